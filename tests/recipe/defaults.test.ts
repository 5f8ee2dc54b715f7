/** Defaults, nulls (treated as absent, as mergekit does) and the accepted spellings. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRecipe } from "../../src/recipe/index.js";
import { parseLines, VALID } from "./helpers.js";

describe("defaults", () => {
	it("fills in mergekit's defaults", () => {
		const recipe = parseLines(VALID);
		assert.equal(recipe.gateMode, "hidden");
		assert.equal(recipe.expertsPerToken, 2);
		assert.equal(recipe.dtype, undefined);
		assert.equal(recipe.architecture, undefined);
		assert.equal(recipe.architectureLoc, undefined);
		assert.deepEqual(recipe.architectureCandidates, ["mixtral", "deepseek_moe", "qwen2_moe", "qwen3_moe"]);
		assert.deepEqual(recipe.sharedExperts, []);
		assert.deepEqual(recipe.experts[0].negativePrompts, []);
		assert.ok(!("noiseScale" in recipe.experts[0]));
		assert.ok(!("residualScale" in recipe.experts[0]));
		assert.equal(recipe.text, `${VALID.join("\n")}\n`);
		assert.equal(recipe.file, "recipe.yml");
	});

	it("treats null optional fields as absent", () => {
		const recipe = parseLines([
			"base_model: org/base",
			"gate_mode: null",
			"dtype: ~",
			"experts_per_token:",
			"shared_experts: null",
			"architecture: null",
			"experts:",
			"  - source_model: org/a",
			"    positive_prompts: [a]",
			"    negative_prompts: null",
			"    noise_scale: null",
			"    residual_scale: null",
			"  - source_model: org/b",
			"    positive_prompts: [b]",
		]);
		assert.equal(recipe.gateMode, "hidden");
		assert.equal(recipe.dtype, undefined);
		assert.equal(recipe.expertsPerToken, 2);
		assert.deepEqual(recipe.sharedExperts, []);
		assert.equal(recipe.architecture, undefined);
		assert.deepEqual(recipe.experts[0].negativePrompts, []);
		assert.equal(recipe.experts[0].noiseScale, undefined);
		assert.equal(recipe.experts[0].residualScale, undefined);
	});

	it("treats an empty dtype or architecture as absent (mergekit tests them for truth)", () => {
		const recipe = parseLines([...VALID, 'dtype: ""', 'architecture: ""']);
		assert.equal(recipe.dtype, undefined);
		assert.equal(recipe.architecture, undefined);
		assert.equal(recipe.architectureCandidates.length, 4);
	});

	it("reads every field", () => {
		const recipe = parseLines([
			"base_model: org/base",
			"gate_mode: uniform_random",
			"dtype: float16",
			"experts_per_token: 1",
			"architecture: deepseek",
			"experts:",
			"  - source_model: org/a",
			"    noise_scale: 0.5",
			"    residual_scale: -2",
			"shared_experts:",
			"  - source_model: org/s",
			"    residual_scale: 0.1",
		]);
		assert.equal(recipe.gateMode, "uniform_random");
		assert.equal(recipe.dtype, "float16");
		assert.equal(recipe.expertsPerToken, 1);
		assert.equal(recipe.architecture, "deepseek_moe");
		assert.deepEqual(recipe.architectureLoc, { file: "recipe.yml", line: 5, column: 15 });
		assert.equal(recipe.experts[0].noiseScale, 0.5);
		assert.equal(recipe.experts[0].residualScale, -2);
		assert.deepEqual(recipe.sharedExperts[0].source, { kind: "hub", repo: "org/s", text: "org/s" });
		assert.deepEqual(recipe.sharedExperts[0].loc, { file: "recipe.yml", line: 11, column: 5 });
		assert.equal(recipe.sharedExperts[0].residualScale, 0.1);
	});

	it("accepts every gate mode", () => {
		for (const mode of ["hidden", "cheap_embed", "random", "uniform_random", "hidden_avg", "hidden_last"]) {
			assert.equal(parseLines([...VALID, `gate_mode: ${mode}`]).gateMode, mode);
		}
	});

	it("accepts dtypes with mergekit's torch. prefix", () => {
		for (const dtype of ["float32", "float16", "bfloat16"]) {
			assert.equal(parseLines([...VALID, `dtype: ${dtype}`]).dtype, dtype);
			assert.equal(parseLines([...VALID, `dtype: torch.${dtype}`]).dtype, dtype);
		}
	});

	it("reads numbers the way PyYAML+pydantic would end up with them", () => {
		const recipe = parseLines([...VALID, "    noise_scale: 1e-3", "    residual_scale: 1", "experts_per_token: 2.0"]);
		assert.equal(recipe.experts[1].noiseScale, 0.001);
		assert.equal(recipe.experts[1].residualScale, 1);
		assert.equal(recipe.expertsPerToken, 2);
	});

	it("resolves local paths against the recipe's folder, not the working directory", () => {
		const recipe = parseRecipe(`${VALID.join("\n").replace("org/code-model", "../models/code")}\n`, "/data/recipes/my.yml");
		assert.deepEqual(recipe.experts[0].source, { kind: "local", path: "/data/models/code", text: "../models/code" });
		assert.deepEqual(recipe.experts[0].loc, { file: "/data/recipes/my.yml", line: 3, column: 5 });
	});

	it("accepts mergekit's long model reference form", () => {
		const recipe = parseLines(["base_model:", "  model: {path: org/base, revision: v2}", "experts:", "  - source_model: {model: org/a@main}", "    positive_prompts: [a]", "  - source_model:", "      model: ./b", "    positive_prompts: [b]"]);
		assert.deepEqual(recipe.baseModel, { kind: "hub", repo: "org/base", revision: "v2", text: "org/base@v2" });
		assert.deepEqual(recipe.experts[0].source, { kind: "hub", repo: "org/a", revision: "main", text: "org/a@main" });
		assert.equal(recipe.experts[1].source.kind, "local");
	});

	it("keeps prompts exactly, including whitespace and chat turns", () => {
		const recipe = parseLines([
			"base_model: org/base",
			"experts:",
			"  - source_model: org/a",
			"    positive_prompts:",
			'      - "  leading spaces\\n\\ttab"',
			"      - |",
			"        line one",
			"        line two",
			"  - source_model: org/b",
			"    positive_prompts:",
			"      - messages:",
			"          - {role: system, content: Be brief.}",
			"          - {role: user, content: ''}",
		]);
		assert.deepEqual(recipe.experts[0].positivePrompts, ["  leading spaces\n\ttab", "line one\nline two\n"]);
		assert.deepEqual(recipe.experts[1].positivePrompts, [{ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "" }] }]);
	});
});
