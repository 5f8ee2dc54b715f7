import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { batchReads } from "../../src/hub/range-prefetch.js";
import type { RangeReader } from "../../src/hub/range-reader.js";

const MB = 1 << 20;
const OPTIONS = { budgetBytes: 256 * MB, maxInFlight: 4, pieceBytes: 64 * MB, gapBytes: 16 * MB };
/** batchReads only looks at a reader's identity and how far its hash got (the header). */
const reader = (hashed: number) => ({ hashedBytes: hashed }) as unknown as RangeReader;
const spans = (pieces: ReturnType<typeof batchReads>) => pieces.map((p) => [p.start / MB, p.end / MB, p.remaining / MB]);

describe("batching a merge's planned reads into ranges (range-prefetch.ts)", () => {
	it("joins an expert layer's gate, down and up (read out of file order) into one range, and fills the small gap to the next layer", () => {
		const e = reader(1 * MB);
		// File order: down [1,21), gate [21,41), up [41,61); the next layer's down after 10 MB of attention.
		const reads = [
			{ reader: e, start: 21 * MB, end: 41 * MB },
			{ reader: e, start: 1 * MB, end: 21 * MB },
			{ reader: e, start: 41 * MB, end: 61 * MB },
			{ reader: e, start: 71 * MB, end: 91 * MB },
		];
		assert.deepEqual(spans(batchReads(reads, OPTIONS)), [
			[1, 61, 60],
			// Starts where the previous range ended: the attention between is fetched (and hashed), not counted as planned.
			[61, 91, 20],
		]);
	});

	it("splits a read larger than a range, keeps files apart in order of use, and counts a tensor read twice in a range of its own", () => {
		const a = reader(0);
		const b = reader(0);
		const reads = [
			{ reader: a, start: 0, end: 150 * MB },
			{ reader: b, start: 0, end: 10 * MB },
			{ reader: b, start: 0, end: 10 * MB },
		];
		const pieces = batchReads(reads, OPTIONS);
		assert.deepEqual(spans(pieces), [
			[0, 64, 64],
			[64, 128, 64],
			[128, 150, 22],
			[0, 10, 10],
			[0, 10, 10],
		]);
		assert.deepEqual(
			pieces.map((p) => (p.reader === a ? "a" : "b")),
			["a", "a", "a", "b", "b"],
		);
	});

	it("does not join reads of a file with other files' reads in between (a layer's experts read projection by projection): each range is used, then dropped", () => {
		const a = reader(0);
		const b = reader(0);
		// File order of each: down [20,30), gate [30,40), up [40,50) (after more than gapBytes of other tensors); read gate, gate, up, up, down, down.
		const reads = ["gate", "up", "down"].flatMap((p) => {
			const at = { down: 20, gate: 30, up: 40 }[p]! * MB;
			return [a, b].map((r) => ({ reader: r, start: at, end: at + 10 * MB }));
		});
		const pieces = batchReads(reads, OPTIONS);
		assert.deepEqual(spans(pieces), [
			[30, 40, 10],
			[30, 40, 10],
			[40, 50, 10],
			[40, 50, 10],
			[20, 30, 10],
			[20, 30, 10],
		]);
		assert.deepEqual(pieces.map((p) => (p.reader === a ? "a" : "b")), ["a", "b", "a", "b", "a", "b"]);
	});

	it("leaves a gap larger than gapBytes out (the file is then checked by the Hub's LFS sha256)", () => {
		const e = reader(0);
		const pieces = batchReads([{ reader: e, start: 0, end: MB }, { reader: e, start: 40 * MB, end: 41 * MB }], OPTIONS);
		assert.deepEqual(spans(pieces), [
			[0, 1, 1],
			[40, 41, 1],
		]);
	});
});
