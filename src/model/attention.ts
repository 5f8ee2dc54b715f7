/**
 * Rotary embedding and causal grouped-query attention for one prompt, in place on the fused q/k/v
 * projection [tokens, (heads + 2 kvHeads) · headDim]. Matches transformers' eager attention in float32:
 * scores = f32(q·k) * f32(headDim^-0.5), softmax over the allowed keys, weighted sum of values.
 */
import { dotF64 } from "./dot-f64.js";
import type { RopeTables } from "./rope.js";

const f = Math.fround;

export interface AttentionShape {
	heads: number;
	kvHeads: number;
	headDim: number;
	/** Attend to this many most recent tokens (itself included), or null for every earlier token. */
	window: number | null;
}

/**
 * HF's rotate_half convention: pairs (i, i + half) of every q and k head, rotated by position.
 * Rows `first` .. `first + tokens - 1` of `qkv` hold the prompt, at positions 0 .. tokens - 1.
 */
export function applyRope(qkv: Float32Array, stride: number, first: number, tokens: number, heads: number, headDim: number, tables: RopeTables): void {
	const half = headDim / 2;
	const { cos, sin } = tables;
	for (let t = 0; t < tokens; t++) {
		const row = (first + t) * stride;
		const table = t * half;
		for (let h = 0; h < heads; h++) {
			const at = row + h * headDim;
			for (let i = 0; i < half; i++) {
				const c = cos[table + i]!;
				const s = sin[table + i]!;
				const x1 = qkv[at + i]!;
				const x2 = qkv[at + i + half]!;
				// q*cos + rotate_half(q)*sin, each product rounded to f32 as torch does.
				qkv[at + i] = f(x1 * c) - f(x2 * s);
				qkv[at + i + half] = f(x2 * c) + f(x1 * s);
			}
		}
	}
}

/** Reused between calls: attention weights of one query row, and its f64 output accumulator. */
let scoresScratch = new Float64Array(64);
let accScratch = new Float64Array(64);

/**
 * Writes the attention output of query tokens `fromToken` .. `tokens - 1` of the prompt into `out`
 * [rows, heads · headDim] (heads concatenated, as o_proj expects), from row `outRow` on; by default
 * every token, at the prompt's own rows. Keys and values are always the prompt's tokens up to the query.
 */
export function attendPrompt(qkv: Float32Array, first: number, tokens: number, shape: AttentionShape, out: Float32Array, fromToken = 0, outRow = first): void {
	const { heads, kvHeads, headDim: D, window } = shape;
	const stride = (heads + 2 * kvHeads) * D;
	const kOffset = heads * D;
	const vOffset = kOffset + kvHeads * D;
	const outStride = heads * D;
	const group = heads / kvHeads;
	const scale = f(1 / Math.sqrt(D));
	if (scoresScratch.length < tokens) scoresScratch = new Float64Array(tokens);
	if (accScratch.length < D) accScratch = new Float64Array(D);
	const p = scoresScratch;
	const acc = accScratch;
	for (let h = 0; h < heads; h++) {
		// repeat_kv: query head h reads key/value head floor(h / group).
		const kv = Math.floor(h / group) * D;
		for (let t = fromToken; t < tokens; t++) {
			const qi = (first + t) * stride + h * D;
			const lo = window === null ? 0 : Math.max(0, t - window + 1);
			let max = -Infinity;
			for (let s = lo; s <= t; s++) {
				const ki = (first + s) * stride + kOffset + kv;
				const score = f(f(dotF64(qkv, qi, qkv, ki, D)) * scale);
				p[s] = score;
				if (score > max) max = score;
			}
			let sum = 0;
			for (let s = lo; s <= t; s++) {
				const e = Math.exp(p[s]! - max);
				p[s] = e;
				sum += e;
			}
			acc.fill(0, 0, D);
			// Two value rows per pass over acc: half the loads and stores of the f64 accumulator.
			let s = lo;
			for (; s < t; s += 2) {
				const w0 = f(p[s]! / sum), w1 = f(p[s + 1]! / sum);
				const v0 = (first + s) * stride + vOffset + kv, v1 = v0 + stride;
				for (let d = 0; d < D; d++) acc[d] += w0 * qkv[v0 + d]! + w1 * qkv[v1 + d]!;
			}
			if (s === t) {
				const w = f(p[s]! / sum);
				const vi = (first + s) * stride + vOffset + kv;
				for (let d = 0; d < D; d++) acc[d] += w * qkv[vi + d]!;
			}
			const oi = (outRow + t - fromToken) * outStride + h * D;
			for (let d = 0; d < D; d++) out[oi + d] = acc[d]!;
		}
	}
}
