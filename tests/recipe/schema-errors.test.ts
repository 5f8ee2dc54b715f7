/** Schema violations: one clear message per mistake, at the right line and column. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MultipleErrors, RecipeError } from "../../src/errors.js";
import { errorsOf, messagesOf, parseLines, repoRoot, VALID } from "./helpers.js";

describe("schema errors", () => {
	it("reports an unknown field with a did-you-mean, at the key", () => {
		const [error, ...rest] = errorsOf(() =>
			parseLines([
				"base_model: mistralai/Mistral-7B-v0.1",
				"experts:",
				"  - source_model: org/a",
				"    positive_prompts: [a]",
				"  - source_model: org/b",
				"    positive_prompts: [b]",
				"    noise_scal: 0.1",
			]),
		);
		assert.deepEqual(rest, []);
		assert.ok(error instanceof RecipeError);
		assert.equal(error.message, 'recipe.yml:7:5: experts[1].noise_scal: unknown field; did you mean "noise_scale"?');
		assert.equal(error.file, "recipe.yml");
		assert.equal(error.line, 7);
		assert.equal(error.column, 5);
		assert.equal(error.fieldPath, "experts[1].noise_scal");
	});

	it("lists the known fields when nothing is close", () => {
		assert.deepEqual(messagesOf([...VALID, "flavour: vanilla"]), [
			"recipe.yml:9:1: flavour: unknown field; the fields here are base_model, experts, gate_mode, dtype, experts_per_token, shared_experts, architecture, output_router_logits, router_aux_loss_coef",
		]);
	});

	it("suggests fields under other names people use", () => {
		assert.deepEqual(messagesOf([...VALID, "num_experts_per_tok: 2"]), ['recipe.yml:9:1: num_experts_per_tok: unknown field; did you mean "experts_per_token"?']);
	});

	it("reports a wrong enum value with the choices and a suggestion", () => {
		const lines = [...VALID];
		lines.splice(1, 0, "gate_mode: hiden");
		assert.deepEqual(messagesOf(lines), [
			'recipe.yml:2:12: gate_mode: expected one of hidden, cheap_embed, random, uniform_random, hidden_avg, hidden_last but got "hiden"; did you mean "hidden"?',
		]);
	});

	it("suggests dtype spellings from other tools", () => {
		assert.deepEqual(messagesOf([...VALID, "dtype: bf16"]), [
			'recipe.yml:9:8: dtype: expected one of float32, float16, bfloat16, torch.float32, torch.float16, torch.bfloat16 but got "bf16"; did you mean "bfloat16"?',
		]);
	});

	it("gives no suggestion for a far-off value", () => {
		assert.deepEqual(messagesOf([...VALID, "gate_mode: telepathy"]), [
			'recipe.yml:9:12: gate_mode: expected one of hidden, cheap_embed, random, uniform_random, hidden_avg, hidden_last but got "telepathy"',
		]);
	});

	it("reports experts_per_token below 1", () => {
		assert.deepEqual(messagesOf([...VALID, "experts_per_token: 0"]), ["recipe.yml:9:20: experts_per_token: expected an integer >= 1, got 0"]);
	});

	it("reports a fractional experts_per_token", () => {
		assert.deepEqual(messagesOf([...VALID, "experts_per_token: 1.5"]), ["recipe.yml:9:20: experts_per_token: expected an integer >= 1, got 1.5"]);
	});

	it("reports a quoted number as a string", () => {
		assert.deepEqual(messagesOf([...VALID, 'experts_per_token: "2"']), ["recipe.yml:9:20: experts_per_token: expected an integer >= 1, got a string"]);
	});

	it("reports a string where a list of prompts belongs", () => {
		const lines = [...VALID];
		lines.splice(3, 2, "    positive_prompts: Write a Python function");
		assert.deepEqual(messagesOf(lines), ["recipe.yml:4:23: experts[0].positive_prompts: expected a list of prompts, got a string"]);
	});

	it("reports a negative noise_scale", () => {
		assert.deepEqual(messagesOf([...VALID, "    noise_scale: -0.5"]), ["recipe.yml:9:18: experts[1].noise_scale: expected a number >= 0, got -0.5"]);
	});

	it("reports a non-number residual_scale", () => {
		assert.deepEqual(messagesOf([...VALID, "    residual_scale: [1]"]), ["recipe.yml:9:21: experts[1].residual_scale: expected a number, got a list"]);
	});

	it("reports a prompt that is neither text nor a chat", () => {
		assert.deepEqual(messagesOf([...VALID, "      - 42"]), [
			"recipe.yml:9:9: experts[1].positive_prompts[1]: expected a prompt (a string or a {messages: [...]} mapping), got 42",
		]);
	});

	it("reports mistakes inside a chat prompt, not 'not a string'", () => {
		const messages = messagesOf([
			...VALID,
			"      - messages:",
			"          - role: bot",
			"            content: hi",
			"          - role: user",
			"      - mesages: []",
		]);
		assert.deepEqual(messages, [
			'recipe.yml:10:19: experts[1].positive_prompts[1].messages[0].role: expected one of system, user, assistant but got "bot"',
			'recipe.yml:12:13: experts[1].positive_prompts[1].messages[1]: missing required field "content"',
			'recipe.yml:13:9: experts[1].positive_prompts[2].mesages: unknown field; did you mean "messages"?',
		]);
	});

	it("reports an empty chat", () => {
		assert.deepEqual(messagesOf([...VALID, "      - messages: []"]), ["recipe.yml:9:19: experts[1].positive_prompts[1].messages: expected at least 1 chat message, got an empty list"]);
	});

	it("reports a missing required field at its mapping", () => {
		// The rules are checked beside the schema: one expert is fewer than the default two per token.
		assert.deepEqual(messagesOf(["base_model: org/base", "experts:", "  - positive_prompts: [x]"]), [
			"recipe.yml:2:1: experts_per_token: 2 experts per token (the default) but only 1 expert; lower experts_per_token or add experts",
			'recipe.yml:3:5: experts[0]: missing required field "source_model"',
		]);
		assert.deepEqual(messagesOf(VALID.slice(1)), ['recipe.yml:1:1: missing required field "base_model"']);
	});

	it("reports the rules' errors beside the schema's, in file order (docs/recipes.md: all at once)", () => {
		assert.deepEqual(
			messagesOf([
				"base_model: org/base",
				"gate_mode: hidden",
				"experts_per_token: 3",
				"experts:",
				"  - source_model: org/a",
				"    noise_scal: 0.1",
				"  - source_model: org/a",
				"    positive_prompts: [x]",
			]),
			[
				"recipe.yml:3:20: experts_per_token: 3 experts per token but only 2 experts; lower experts_per_token or add experts",
				"recipe.yml:4:1: experts: every expert is the same model (org/a): the result would use more memory and answer exactly like that model; if you will train it after merging, pass --i-understand-this-is-not-useful-without-training",
				"recipe.yml:5:5: experts[0].positive_prompts: no positive_prompts: with gate_mode hidden every expert needs at least one example prompt of what to route to it (or use gate_mode random)",
				'recipe.yml:6:5: experts[0].noise_scal: unknown field; did you mean "noise_scale"?',
			],
		);
	});

	it("leaves out rule errors that only follow from a schema error", () => {
		// An invalid experts_per_token is not also "more than the experts"; prompts given as a string are not also "no prompts".
		assert.deepEqual(messagesOf(["base_model: org/base", "experts_per_token: two", "experts:", "  - source_model: org/a", '    positive_prompts: "x"', "  - source_model: org/c"]), [
			"recipe.yml:2:20: experts_per_token: expected an integer >= 1, got a string",
			"recipe.yml:5:23: experts[0].positive_prompts: expected a list of prompts, got a string",
			"recipe.yml:6:5: experts[1].positive_prompts: no positive_prompts: with gate_mode hidden every expert needs at least one example prompt of what to route to it (or use gate_mode random)",
		]);
		// Without a valid gate mode, whether prompts are needed is unknown; the other rules still hold.
		assert.deepEqual(messagesOf(["base_model: org/base", "gate_mode: hiden", "experts:", "  - source_model: org/a", "  - source_model: org/a"]), [
			'recipe.yml:2:12: gate_mode: expected one of hidden, cheap_embed, random, uniform_random, hidden_avg, hidden_last but got "hiden"; did you mean "hidden"?',
			"recipe.yml:3:1: experts: every expert is the same model (org/a): the result would use more memory and answer exactly like that model; if you will train it after merging, pass --i-understand-this-is-not-useful-without-training",
		]);
		// An invalid model reference is not compared with the others.
		assert.deepEqual(messagesOf(["base_model: org/base", "gate_mode: random", "experts:", "  - source_model: {model: 3}", "  - source_model: org/a"]), [
			"recipe.yml:4:27: experts[0].source_model.model: expected a model path (a string or a {path, revision} mapping), got 3",
		]);
		// An experts list that is not a list: nothing else to check.
		assert.deepEqual(messagesOf(["base_model: org/base", "experts: 3"]), ["recipe.yml:2:10: experts: expected a list of experts, got 3"]);
	});

	it("reports an empty expert list", () => {
		assert.deepEqual(messagesOf(["base_model: org/base", "experts: []"]), ["recipe.yml:2:10: experts: expected at least 1 expert, got an empty list"]);
	});

	it("reports null for a required field at the key", () => {
		assert.deepEqual(messagesOf(["base_model:", ...VALID.slice(1)]), ["recipe.yml:1:1: base_model: expected a model reference (a string or a {model: ...} mapping), got null"]);
	});

	it("reports an empty model reference", () => {
		assert.deepEqual(messagesOf(['base_model: ""', ...VALID.slice(1)]), ["recipe.yml:1:13: base_model: must not be empty"]);
	});

	it("reports a recipe that is not a mapping", () => {
		assert.deepEqual(messagesOf(["- base_model: x"]), ["recipe.yml:1:1: expected a mapping of recipe fields (base_model, experts, ...), got a list"]);
		assert.deepEqual(messagesOf(["just some text"]), ["recipe.yml:1:1: expected a mapping of recipe fields (base_model, experts, ...), got a string"]);
	});

	it("reports an empty recipe", () => {
		assert.deepEqual(messagesOf(["# nothing here"]), ["recipe.yml:1:1: the recipe is empty; it needs at least base_model and experts"]);
	});

	it("collects every schema error of a file, in file order", () => {
		let caught: unknown;
		try {
			parseLines([
				"base_model: org/base",
				"gate_mode: hiden",
				"experts_per_token: 0",
				"experts:",
				"  - source_model: org/a",
				"    positive_promts: [a]",
				"  - source_model: 7",
			]);
		} catch (e) {
			caught = e;
		}
		assert.ok(caught instanceof MultipleErrors);
		assert.deepEqual(
			caught.errors.map((e) => [(e as RecipeError).line, (e as RecipeError).column, (e as RecipeError).fieldPath]),
			[
				[2, 12, "gate_mode"],
				[3, 20, "experts_per_token"],
				[6, 5, "experts[0].positive_promts"],
				[7, 19, "experts[1].source_model"],
			],
		);
		assert.match(caught.message, /positive_promts: unknown field; did you mean "positive_prompts"\?/);
		assert.match(caught.message, /experts\[1\]\.source_model: expected a model reference .*, got 7/);
	});

	it("reports mistakes in mergekit's long model reference form", () => {
		assert.deepEqual(messagesOf(["base_model:", "  model: {path: org/base, rev: main}", ...VALID.slice(1)]), [
			'recipe.yml:2:27: base_model.model.rev: unknown field; did you mean "revision"?',
		]);
	});

	it("points into shared experts too", () => {
		assert.deepEqual(messagesOf([...VALID, "shared_experts:", "  - source_model: org/shared", "    residual_scale: high"]), [
			"recipe.yml:11:21: shared_experts[0].residual_scale: expected a number, got a string",
		]);
	});

	it("quotes odd keys in the field path", () => {
		assert.deepEqual(messagesOf([...VALID, '"two words": 1']), ['recipe.yml:9:1: ["two words"]: unknown field; the fields here are base_model, experts, gate_mode, dtype, experts_per_token, shared_experts, architecture, output_router_logits, router_aux_loss_coef']);
	});
});

describe("prompts that YAML reads as mappings", () => {
	it("explains an unquoted prompt with a colon", () => {
		assert.deepEqual(messagesOf([...VALID, "      - Note: keep it short", "      - def f(x):"]), [
			'recipe.yml:9:9: experts[1].positive_prompts[1]: expected a prompt, got a mapping with the key "Note": unquoted text with ": " or a final ":" is a key to YAML; put the prompt in quotes',
			'recipe.yml:10:9: experts[1].positive_prompts[2]: expected a prompt, got a mapping with the key "def f(x)": unquoted text with ": " or a final ":" is a key to YAML; put the prompt in quotes',
		]);
	});

	it("accepts the same prompts quoted", () => {
		const recipe = parseLines([...VALID, '      - "Note: keep it short"', "      - 'def f(x):'"]);
		assert.deepEqual(recipe.experts[1].positivePrompts, ["Once upon a time", "Note: keep it short", "def f(x):"]);
	});
});

describe("docs/recipes.md", () => {
	it("shows the errors the parser really gives", () => {
		const docs = readFileSync(join(repoRoot(), "docs", "recipes.md"), "utf8");
		const shown = docs.split("\n").filter((line) => line.startsWith("recipe.yml:"));
		const messages = messagesOf([
			"base_model: org/base",
			"dtype: bfloat16",
			"gate_mode: hiden",
			"experts_per_token: 0",
			"experts:",
			"  - source_model: org/a",
			"  - noise_scal: 0.1",
			"    source_model: org/b",
			"  - positive_prompts: hello",
			"    source_model: org/c",
		]);
		assert.deepEqual(messages, shown);
	});
});

describe("wrong shapes", () => {
	it("says what an expert looks like when one is written as a bare model name", () => {
		assert.deepEqual(messagesOf(["base_model: org/base", "experts:", "  - org/a", "  - org/b"]), [
			"recipe.yml:3:5: experts[0]: expected an expert (a mapping with source_model), got a string",
			"recipe.yml:4:5: experts[1]: expected an expert (a mapping with source_model), got a string",
		]);
	});

	it("says what a chat turn looks like", () => {
		assert.deepEqual(messagesOf([...VALID, "      - messages: [hello]"]), [
			"recipe.yml:9:20: experts[1].positive_prompts[1].messages[0]: expected a chat message (a mapping with role, content), got a string",
		]);
	});
});
