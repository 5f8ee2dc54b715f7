/** Edit distance and the did-you-mean threshold. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closest, editDistance } from "../../src/recipe/suggest.js";

describe("did you mean", () => {
	it("measures edits, counting a swap as one", () => {
		assert.equal(editDistance("", ""), 0);
		assert.equal(editDistance("abc", ""), 3);
		assert.equal(editDistance("kitten", "sitting"), 3);
		assert.equal(editDistance("gaet_mode", "gate_mode"), 1);
	});

	const fields = ["base_model", "experts", "gate_mode", "dtype", "experts_per_token", "shared_experts", "architecture"];
	const cases: [string, string | undefined][] = [
		["gate_mod", "gate_mode"],
		["gatemode", "gate_mode"],
		["Gate_Mode", "gate_mode"],
		["expert", "experts"],
		["experts_per_tok", "experts_per_token"],
		["share_experts", "shared_experts"],
		["arch", "architecture"],
		["basemodel", "base_model"],
		["dtyp", "dtype"],
		["foo", undefined],
		["model_type", undefined],
		["x", undefined],
		["a".repeat(200), undefined],
	];
	for (const [word, expected] of cases) {
		it(`${word.slice(0, 20)} -> ${expected ?? "nothing"}`, () => assert.equal(closest(word, fields), expected));
	}

	it("uses aliases", () => assert.equal(closest("BF16", ["float32", "bfloat16"], { aliases: { bf16: "bfloat16" } }), "bfloat16"));
});
