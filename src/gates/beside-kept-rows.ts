/**
 * New router rows beside rows kept from an MoE (editing an MoE, docs/edit.md). A new row's direction
 * comes from its prompts as in a fresh merge (unit length), but kept rows were trained or built at
 * another scale, and logits compare only at one scale: the new row is lengthened to at least the kept
 * rows' mean length, and further until, on every positive prompt of its expert, its logit beats the
 * best kept row's by KEPT_ROW_MARGIN. Kept rows are never changed.
 */
import { norm } from "./vector-math.js";

/** ln 4: the new expert's probability is at least 4 times any kept expert's on its own prompts. */
export const KEPT_ROW_MARGIN = Math.log(4);

/**
 * The length for one new unit row `row` [H] of one layer, beside `kept` rows [K·H] of that layer, given
 * the router inputs `positives` (each [H]) of its expert's positive prompts.
 */
export function lengthBesideKeptRows(row: Float32Array, kept: Float32Array, positives: readonly ArrayLike<number>[], H: number): number {
	const K = kept.length / H;
	if (K === 0) return 1;
	let length = 0;
	for (let k = 0; k < K; k++) length += norm(kept.subarray(k * H, (k + 1) * H)) / K;
	for (const x of positives) {
		const own = dot(row, x, 0, H);
		if (own <= 0) continue; // a prompt the row points away from cannot be won by length
		let best = -Infinity;
		for (let k = 0; k < K; k++) best = Math.max(best, dot(kept, x, k * H, H));
		length = Math.max(length, (best + KEPT_ROW_MARGIN) / own);
	}
	return length;
}

function dot(a: ArrayLike<number>, x: ArrayLike<number>, offset: number, H: number): number {
	let sum = 0;
	for (let i = 0; i < H; i++) sum += a[offset + i]! * x[i]!;
	return sum;
}
