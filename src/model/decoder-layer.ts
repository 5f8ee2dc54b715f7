/**
 * One decoder layer over all prompts at once: the tokens of every prompt are rows of one [M, hidden]
 * matrix for the projections and the MLP (one matrix product each); rope and attention run per prompt.
 * Pre-norm residual blocks, as in LlamaDecoderLayer:
 *   x += o_proj(attention(rope(qkv(norm1(x)))));  x += down(silu(gate(norm2(x))) * up(norm2(x)))
 */
import { applyRope, attendPrompt } from "./attention.js";
import type { LayerWeights } from "./layer-weights.js";
import type { LinearBackend } from "./linear-backend.js";
import type { ModelSpec } from "./model-spec.js";
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

/** Work buffers sized once for a batch of M rows and reused by every layer. */
export class LayerScratch {
	readonly normed: Float32Array;
	readonly qkv: Float32Array;
	readonly attn: Float32Array;
	readonly proj: Float32Array;
	readonly gateUp: Float32Array;
	readonly act: Float32Array;
	readonly chunkRows: number;

	constructor(spec: ModelSpec, rows: number, mlpChunkRows?: number) {
		const { hidden: H, heads, kvHeads, headDim: D, intermediate: I } = spec;
		this.chunkRows = Math.max(1, Math.min(rows, mlpChunkRows ?? Math.floor(MLP_CHUNK_VALUES / (2 * I))));
		this.normed = new Float32Array(rows * H);
		this.qkv = new Float32Array(rows * (heads + 2 * kvHeads) * D);
		this.attn = new Float32Array(rows * heads * D);
		this.proj = new Float32Array(rows * H);
		this.gateUp = new Float32Array(this.chunkRows * 2 * I);
		this.act = new Float32Array(this.chunkRows * I);
	}
}

export async function runDecoderLayer(
	x: Float32Array,
	rows: number,
	layer: LayerWeights,
	window: number | null,
	spec: ModelSpec,
	prompts: readonly PromptRows[],
	scratch: LayerScratch,
	backend: LinearBackend,
	onPrompt?: (done: number) => void,
): Promise<void> {
	const { hidden: H, heads, kvHeads, headDim: D, intermediate: I, eps } = spec;
	const { normed, qkv, attn, proj, gateUp, act } = scratch;
	const stride = (heads + 2 * kvHeads) * D;

	rmsNorm(x, normed, rows, H, layer.inputNorm, eps);
	await backend.linear(normed, rows, layer.qkv, { bias: layer.qkvBias, out: qkv.subarray(0, rows * stride) });
	if (layer.qNorm && layer.kNorm) {
		rmsNormHeads(qkv, rows, stride, 0, heads, D, layer.qNorm, eps);
		rmsNormHeads(qkv, rows, stride, heads * D, kvHeads, D, layer.kNorm, eps);
	}
	const shape = { heads, kvHeads, headDim: D, window };
	for (let p = 0; p < prompts.length; p++) {
		const { first, tokens, rope } = prompts[p]!;
		// q and k heads are adjacent in a row, so one pass rotates heads + kvHeads vectors.
		applyRope(qkv, stride, first, tokens, heads + kvHeads, D, rope);
		attendPrompt(qkv, first, tokens, shape, attn);
		onPrompt?.(p + 1);
	}
	await backend.linear(attn, rows, layer.o, { bias: layer.oBias, out: proj.subarray(0, rows * H) });
	for (let i = 0; i < rows * H; i++) x[i] += proj[i]!;

	rmsNorm(x, normed, rows, H, layer.postNorm, eps);
	for (let first = 0; first < rows; first += scratch.chunkRows) {
		const n = Math.min(scratch.chunkRows, rows - first);
		const input = normed.subarray(first * H, (first + n) * H);
		await backend.linear(input, n, layer.gateUp, { bias: layer.gateUpBias, out: gateUp.subarray(0, n * 2 * I) });
		siluGate(gateUp, act, n, I);
		const out = proj.subarray(first * H, (first + n) * H);
		await backend.linear(act.subarray(0, n * I), n, layer.down, { bias: layer.downBias, out });
		for (let i = 0; i < n * H; i++) x[first * H + i] += out[i]!;
	}
}
