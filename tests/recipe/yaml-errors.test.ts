/** YAML-level problems: syntax, duplicate keys, several documents, anchors and merges. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRecipe } from "../../src/recipe/index.js";
import { errorsOf, messagesOf, parseLines, VALID } from "./helpers.js";

describe("YAML errors", () => {
	it("gives file:line:col and the yaml library's reason for a syntax error", () => {
		const [error] = errorsOf(() => parseLines(["base_model: org/base", "experts: [", "  - source_model: org/a"]));
		assert.equal(error.file, "recipe.yml");
		assert.match(error.message, /^recipe\.yml:\d+:\d+: invalid YAML: \S/);
		assert.ok(error.line !== undefined && error.line >= 2);
	});

	it("reports an unterminated quote (where the yaml library notices it: the end)", () => {
		assert.deepEqual(messagesOf(["base_model: 'org/base", ...VALID.slice(1)]), ["recipe.yml:9:1: invalid YAML: Missing closing 'quote"]);
	});

	it("reports tabs used as indentation", () => {
		const messages = messagesOf(["base_model: org/base", "experts:", "\t- source_model: org/a"]);
		assert.ok(messages.some((m) => m.startsWith("recipe.yml:3:1: invalid YAML: Tabs are not allowed as indentation")), messages.join("\n"));
	});

	it("refuses duplicate keys, at the second one", () => {
		assert.deepEqual(messagesOf([...VALID, "base_model: org/other"]), ['recipe.yml:9:1: duplicate key "base_model": each field may appear only once']);
	});

	it("refuses duplicate keys inside an expert", () => {
		assert.deepEqual(messagesOf([...VALID, "    source_model: org/again"]), ['recipe.yml:9:5: duplicate key "source_model": each field may appear only once']);
	});

	it("refuses several YAML documents", () => {
		assert.deepEqual(messagesOf([...VALID, "---", "base_model: org/x"]), ["recipe.yml:9:1: a recipe is a single YAML document; remove the extra `---` documents"]);
	});

	it("refuses an alias to an anchor that does not exist", () => {
		assert.deepEqual(messagesOf([...VALID, "    negative_prompts: *nothing"]), ["recipe.yml:9:23: unknown alias *nothing: define the anchor &nothing before using it"]);
	});

	it("accepts anchors, aliases and << merge keys (PyYAML does)", () => {
		const recipe = parseLines([
			"base_model: org/base",
			"experts:",
			"  - &code",
			"    source_model: org/code",
			"    positive_prompts: &codePrompts",
			"      - 'def f(x):'",
			"    noise_scale: 0.01",
			"  - <<: *code",
			"    source_model: org/code-2",
			"    negative_prompts: *codePrompts",
			"    positive_prompts: [Once upon a time]",
		]);
		assert.deepEqual(
			recipe.experts.map((e) => [e.source.text, e.positivePrompts, e.negativePrompts, e.noiseScale]),
			[
				["org/code", ["def f(x):"], [], 0.01],
				["org/code-2", ["Once upon a time"], ["def f(x):"], 0.01],
			],
		);
	});

	it("locates errors in merged keys at their anchor", () => {
		const messages = messagesOf([
			"base_model: org/base",
			"defaults: &d",
			"  noise_scale: -1",
			"experts:",
			"  - <<: *d",
			"    source_model: org/a",
			"    positive_prompts: [a]",
		]);
		assert.deepEqual(messages, ["recipe.yml:2:1: defaults: unknown field; the fields here are base_model, experts, gate_mode, dtype, experts_per_token, shared_experts, architecture, output_router_logits, router_aux_loss_coef", "recipe.yml:3:16: experts[0].noise_scale: expected a number >= 0, got -1", "recipe.yml:4:1: experts_per_token: 2 experts per token (the default) but only 1 expert; lower experts_per_token or add experts"]);
	});

	it("refuses alias bombs instead of running out of memory", () => {
		const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
		for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
		const [error] = errorsOf(() => parseLines(lines));
		assert.match(error.message, /^recipe\.yml:1:1: cannot read the YAML: /);
	});

	it("refuses lists and mappings as keys (PyYAML: unhashable key)", () => {
		assert.deepEqual(messagesOf([...VALID, "? [a, b]", ": 1"]), ["recipe.yml:9:3: a key must be text, not a list or mapping"]);
	});

	it("accepts a byte order mark and Windows line endings", () => {
		const recipe = parseRecipe(`\uFEFF${VALID.join("\r\n")}\r\n`, "recipe.yml");
		assert.equal(recipe.experts[1].positivePrompts[0], "Once upon a time");
	});

	it("counts lines from 1 and columns from 1 after a comment header", () => {
		assert.deepEqual(messagesOf(["# a comment", "", ...VALID, "  - source_model: org/c", "    positive_prompts: []", "    oops: 1"]), [
			"recipe.yml:12:23: experts[2].positive_prompts: no positive_prompts: with gate_mode hidden every expert needs at least one example prompt of what to route to it (or use gate_mode random)",
			"recipe.yml:13:5: experts[2].oops: unknown field; the fields here are source_model, positive_prompts, negative_prompts, noise_scale, residual_scale, expert",
		]);
	});
});
