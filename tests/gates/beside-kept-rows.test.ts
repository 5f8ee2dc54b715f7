/** A new router row's length beside kept rows: at least their mean length, and enough to win its own prompts by ln 4. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KEPT_ROW_MARGIN, lengthBesideKeptRows } from "../../src/gates/beside-kept-rows.js";

describe("lengthBesideKeptRows", () => {
	const H = 2;
	it("lengthens the row until it wins its prompt by ln 4, never below the kept rows' mean length", () => {
		const kept = Float32Array.from([3, 0, 0, 5]); // lengths 3 and 5
		const row = Float32Array.from([Math.SQRT1_2, Math.SQRT1_2]);
		// Own logit at length 4: 4·(0.1·√½·2) ≈ 0.57; kept logits 0.3, 0.5: 0.57 < 0.5 + ln 4, so it grows.
		const len = lengthBesideKeptRows(row, kept, [[0.1, 0.1]], H);
		assert.ok(Math.abs(len * 0.1 * Math.SQRT2 - (0.5 + KEPT_ROW_MARGIN)) < 1e-6, `length ${len}`);
		assert.equal(lengthBesideKeptRows(row, kept, [[-1, -1]], H), 4, "a prompt the row points away from does not lengthen it");
		assert.equal(lengthBesideKeptRows(row, kept, [], H), 4);
	});
	it("every own prompt wins by the margin", () => {
		const kept = Float32Array.from([1, 2, -2, 1]);
		const row = Float32Array.from([0.6, 0.8]);
		const prompts = [[1, 0.2], [0.3, 1], [2, 2]];
		const len = lengthBesideKeptRows(row, kept, prompts, H);
		for (const x of prompts) {
			const own = len * (row[0]! * x[0]! + row[1]! * x[1]!);
			const best = Math.max(kept[0]! * x[0]! + kept[1]! * x[1]!, kept[2]! * x[0]! + kept[3]! * x[1]!);
			assert.ok(own >= best + KEPT_ROW_MARGIN - 1e-6);
		}
	});
	it("no kept rows: unit length", () => {
		assert.equal(lengthBesideKeptRows(Float32Array.from([1, 0]), new Float32Array(0), [[1, 1]], H), 1);
	});
});
