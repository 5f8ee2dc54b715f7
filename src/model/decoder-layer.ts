/**
 * One decoder layer over all prompts at once, in two halves (attention, then MLP, so that each half's
 * weights can be packed only when needed): the tokens of every prompt are rows of one [M, hidden]
 * matrix for the projections and the MLP (one matrix product each); rope and attention run per prompt.
 * Pre-norm residual blocks, as in LlamaDecoderLayer:
 *   x += o_proj(attention(rope(qkv(norm1(x)))));  x += down(silu(gate(norm2(x))) * up(norm2(x)))
 */
import { applyRope, attendPrompt } from "./attention.js";
import type { AttentionWeights, MlpWeights } from "./layer-weights.js";
import type { LinearBackend } from "./linear-backend.js";
import type { ModelSpec } from "./model-spec.js";
import { timed, type PhaseTimes } from "./phase-times.js";
import { rmsNorm, rmsNormHeads } from "./rms-norm.js";
import type { RopeTables } from "./rope.js";
import { siluGate } from "./silu-gate.js";

/** Values of the widest MLP intermediate buffer (64 MB); bigger batches run the MLP in row chunks. */
const MLP_CHUNK_VALUES = 1 << 24;

export interface PromptRows {
	/** First row of the prompt in the batch matrix. */
	first: number;
	tokens: number;
	rope: RopeTables;
}

/** Each prompt's rows in the batch matrix of all prompts' tokens, one prompt after the other. */
export function promptRows(prompts: readonly number[][], rope: { tables(tokens: number): RopeTables }): PromptRows[] {
	let first = 0;
	return prompts.map((ids) => {
		const rows = { first, tokens: ids.length, rope: rope.tables(ids.length) };
		first += ids.length;
		return rows;
	});
}

/** The attention half's work buffers for a batch of `rows` rows. */
export interface AttentionScratch {
	readonly normed: Float32Array;
	readonly qkv: Float32Array;
	readonly attn: Float32Array;
	readonly proj: Float32Array;
}

export function attentionScratch(spec: ModelSpec, rows: number): AttentionScratch {
	const { hidden: H, heads, kvHeads, headDim: D } = spec;
	return {
		normed: new Float32Array(rows * H),
		qkv: new Float32Array(rows * (heads + 2 * kvHeads) * D),
		attn: new Float32Array(rows * heads * D),
		proj: new Float32Array(rows * H),
	};
}

/** Work buffers sized once for a batch of M rows and reused by every layer. */
export class LayerScratch implements AttentionScratch {
	readonly normed: Float32Array;
	readonly qkv: Float32Array;
	readonly attn: Float32Array;
	readonly proj: Float32Array;
	readonly gateUp: Float32Array;
	readonly act: Float32Array;
	readonly chunkRows: number;

	constructor(spec: ModelSpec, rows: number, mlpChunkRows?: number) {
		const { intermediate: I } = spec;
		this.chunkRows = Math.max(1, Math.min(rows, mlpChunkRows ?? Math.floor(MLP_CHUNK_VALUES / (2 * I))));
		({ normed: this.normed, qkv: this.qkv, attn: this.attn, proj: this.proj } = attentionScratch(spec, rows));
		this.gateUp = new Float32Array(this.chunkRows * 2 * I);
		this.act = new Float32Array(this.chunkRows * I);
	}
}

export interface DecoderLayerOptions {
	/** Called after each prompt's attention with the number of prompts done. */
	onPrompt?: (done: number) => void;
	/**
	 * "last": only each prompt's last token leaves the layer updated (its keys and values still come from
	 * every token): what the final layer needs when only last-token states are read.
	 */
	outputs?: "all" | "last";
	/** Adds the wall time of products, attention and row operations here. */
	times?: PhaseTimes;
}

/** The rows leaving the attention half: x itself, or (outputs "last") a compact copy of the rows in `out`. */
export interface LayerRows {
	xs: Float32Array;
	n: number;
	/** Rows of x that xs holds, when compact. */
	out?: number[];
}

/** x += o_proj(attention(rope(qkv(norm1(x))))) for the rows that leave the layer. */
export async function runAttentionBlock(
	x: Float32Array,
	rows: number,
	layer: AttentionWeights,
	window: number | null,
	spec: ModelSpec,
	prompts: readonly PromptRows[],
	scratch: AttentionScratch,
	backend: LinearBackend,
	options: DecoderLayerOptions = {},
): Promise<LayerRows> {
	const { hidden: H, heads, kvHeads, headDim: D, eps } = spec;
	const { normed, qkv, attn, proj } = scratch;
	const { times } = options;
	const stride = (heads + 2 * kvHeads) * D;
	const lastOnly = options.outputs === "last";
	const out = lastOnly ? prompts.map((p) => p.first + p.tokens - 1) : undefined;
	const n = out ? out.length : rows;

	await timed(times, "rowOps", () => rmsNorm(x, normed, rows, H, layer.inputNorm, eps));
	await product(backend, times, normed, rows, layer.qkv, { bias: layer.qkvBias, out: qkv.subarray(0, rows * stride) });
	await timed(times, "attention", () => {
		if (layer.qNorm && layer.kNorm) {
			rmsNormHeads(qkv, rows, stride, 0, heads, D, layer.qNorm, eps);
			rmsNormHeads(qkv, rows, stride, heads * D, kvHeads, D, layer.kNorm, eps);
		}
		const shape = { heads, kvHeads, headDim: D, window };
		for (let p = 0; p < prompts.length; p++) {
			const { first, tokens, rope } = prompts[p]!;
			// q and k heads are adjacent in a row, so one pass rotates heads + kvHeads vectors.
			applyRope(qkv, stride, first, tokens, heads + kvHeads, D, rope);
			if (lastOnly) attendPrompt(qkv, first, tokens, shape, attn, tokens - 1, p);
			else attendPrompt(qkv, first, tokens, shape, attn);
			options.onPrompt?.(p + 1);
		}
	});
	// From here on every row is independent: work on the n rows that leave the layer.
	const xs = out ? gatherRows(x, out, H) : x;
	await product(backend, times, attn.subarray(0, n * heads * D), n, layer.o, { bias: layer.oBias, out: proj.subarray(0, n * H) });
	await timed(times, "rowOps", () => {
		for (let i = 0; i < n * H; i++) xs[i] += proj[i]!;
	});
	return { xs, n, out };
}

/** x += down(silu(gate(norm2(x))) * up(norm2(x))) for the rows that left the attention half; then back into x. */
export async function runMlpBlock(x: Float32Array, rows: LayerRows, layer: MlpWeights, spec: ModelSpec, scratch: LayerScratch, backend: LinearBackend, times?: PhaseTimes): Promise<void> {
	const { hidden: H, intermediate: I, eps } = spec;
	const { normed, proj, gateUp, act } = scratch;
	const { xs, n, out } = rows;
	await timed(times, "rowOps", () => rmsNorm(xs, normed, n, H, layer.postNorm, eps));
	for (let first = 0; first < n; first += scratch.chunkRows) {
		const count = Math.min(scratch.chunkRows, n - first);
		const input = normed.subarray(first * H, (first + count) * H);
		await product(backend, times, input, count, layer.gateUp, { bias: layer.gateUpBias, out: gateUp.subarray(0, count * 2 * I) });
		await timed(times, "rowOps", () => (backend.siluGate ? backend.siluGate(gateUp, act, count, I) : siluGate(gateUp, act, count, I)));
		const y = proj.subarray(first * H, (first + count) * H);
		await product(backend, times, act.subarray(0, count * I), count, layer.down, { bias: layer.downBias, out: y });
		await timed(times, "rowOps", () => {
			for (let i = 0; i < count * H; i++) xs[first * H + i] += y[i]!;
		});
	}
	if (out) out.forEach((row, i) => x.set(xs.subarray(i * H, (i + 1) * H), row * H));
}

function product(backend: LinearBackend, times: PhaseTimes | undefined, x: Float32Array, m: number, w: unknown, o: { bias?: Float32Array; out: Float32Array }): Promise<Float32Array> {
	return timed(times, "products", () => backend.linear(x, m, w, o));
}

function gatherRows(x: Float32Array, rows: readonly number[], H: number): Float32Array {
	const out = new Float32Array(rows.length * H);
	rows.forEach((row, i) => out.set(x.subarray(row * H, (row + 1) * H), i * H));
	return out;
}
