/** `architecture:` prefixes, resolved like mergekit's select_output_arch. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchArchitectures } from "../../src/recipe/index.js";
import { parseLines, VALID } from "./helpers.js";

describe("architecture", () => {
	const cases: [string, string[]][] = [
		["Mixtral", ["mixtral"]],
		["mixtral", ["mixtral"]],
		["MIX", ["mixtral"]],
		["m", ["mixtral"]],
		["DeepSeek MoE", ["deepseek_moe"]],
		["deepseek", ["deepseek_moe"]],
		["d", ["deepseek_moe"]],
		["Qwen MoE", ["qwen2_moe"]],
		["qwen m", ["qwen2_moe"]],
		["Qwen3 MoE", ["qwen3_moe"]],
		["qwen3", ["qwen3_moe"]],
		["qwen", ["qwen2_moe", "qwen3_moe"]],
		["Q", ["qwen2_moe", "qwen3_moe"]],
		["qwen2_moe", ["qwen2_moe"]],
		["QWEN3_MOE", ["qwen3_moe"]],
		["deepseek_moe", ["deepseek_moe"]],
		["qwen2", []],
		["llama", []],
		["Mixtral MoE", []],
	];
	for (const [text, expected] of cases) {
		it(`${JSON.stringify(text)} -> ${expected.join(", ") || "none"}`, () => assert.deepEqual(matchArchitectures(text), expected));
	}

	it("puts the first match in Recipe.architecture and all of them in architectureCandidates", () => {
		const recipe = parseLines([...VALID, "architecture: qwen"]);
		assert.equal(recipe.architecture, "qwen2_moe");
		assert.deepEqual(recipe.architectureCandidates, ["qwen2_moe", "qwen3_moe"]);
	});
});
