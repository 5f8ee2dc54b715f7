/**
 * The attention half of one decoder layer of an MoE checkpoint, built from the dense forward pass's
 * primitives (RMSNorm, rope, causal GQA attention, the LinearBackend), since its decoder layer hard-wires
 * a dense MLP: x += o_proj(attention(rope(qkv(input_layernorm(x))))). Weights are read for one layer,
 * used, and freed.
 */
import type { ModelWeights } from "../safetensors/index.js";
import { applyRope, attendPrompt } from "../model/attention.js";
import type { AttentionWeights } from "../model/layer-weights.js";
import type { LinearBackend } from "../model/linear-backend.js";
import { tensorNames, type ModelSpec } from "../model/model-spec.js";
import { rmsNorm, rmsNormHeads } from "../model/rms-norm.js";
import type { RopeTables } from "../model/rope.js";
import { readStacked, readVector, readVectors, type ReadBuffer } from "../model/tensor-io.js";

/** One prompt's rows in the batch matrix of all prompts' tokens. */
export interface PromptSpan {
	first: number;
	tokens: number;
	rope: RopeTables;
}

async function loadAttention(weights: ModelWeights, spec: ModelSpec, l: number, backend: LinearBackend, buffer: ReadBuffer): Promise<AttentionWeights> {
	const name = (rest: string): string => tensorNames.layer(l, rest);
	const { hidden: H, heads, kvHeads, headDim: D } = spec;
	const parts = [
		{ name: name("self_attn.q_proj"), rows: heads * D },
		{ name: name("self_attn.k_proj"), rows: kvHeads * D },
		{ name: name("self_attn.v_proj"), rows: kvHeads * D },
	];
	const qkvRaw = await readStacked(weights, parts.map((p) => ({ name: `${p.name}.weight`, rows: p.rows })), H, buffer);
	const qkv = await backend.packLinear(qkvRaw.bytes, qkvRaw.dtype, qkvRaw.rows, H);
	try {
		const oRaw = await readStacked(weights, [{ name: name("self_attn.o_proj.weight"), rows: H }], heads * D, buffer);
		const o = await backend.packLinear(oRaw.bytes, oRaw.dtype, H, heads * D);
		const w: AttentionWeights = { inputNorm: await readVector(weights, name("input_layernorm.weight"), H), qkv, o };
		try {
			if (spec.qkvBias) w.qkvBias = await readVectors(weights, parts.map((p) => ({ name: `${p.name}.bias`, length: p.rows })));
			if (spec.oBias) w.oBias = await readVector(weights, name("self_attn.o_proj.bias"), H);
			if (spec.qkNorm) {
				w.qNorm = await readVector(weights, name("self_attn.q_norm.weight"), D);
				w.kNorm = await readVector(weights, name("self_attn.k_norm.weight"), D);
			}
		} catch (error) {
			backend.free(o);
			throw error;
		}
		return w;
	} catch (error) {
		backend.free(qkv);
		throw error;
	}
}

/** Each prompt's rows, one prompt after the other, with its rope tables. */
export function promptSpans(prompts: readonly number[][], rope: { tables(tokens: number): RopeTables }): PromptSpan[] {
	const starts = prompts.map((_, p) => prompts.slice(0, p).reduce((n, ids) => n + ids.length, 0));
	return prompts.map((ids, p) => ({ first: starts[p]!, tokens: ids.length, rope: rope.tables(ids.length) }));
}

/** Adds layer l's attention output to `x` [rows, hidden] in place. */
export async function runAttentionBlock(
	weights: ModelWeights,
	spec: ModelSpec,
	l: number,
	x: Float32Array,
	spans: readonly PromptSpan[],
	backend: LinearBackend,
	buffer: ReadBuffer,
): Promise<void> {
	const { hidden: H, heads, kvHeads, headDim: D, eps } = spec;
	const rows = x.length / H;
	const stride = (heads + 2 * kvHeads) * D;
	const w = await loadAttention(weights, spec, l, backend, buffer);
	try {
		const normed = new Float32Array(rows * H);
		rmsNorm(x, normed, rows, H, w.inputNorm, eps);
		const qkv = await backend.linear(normed, rows, w.qkv, { bias: w.qkvBias });
		if (w.qNorm && w.kNorm) {
			rmsNormHeads(qkv, rows, stride, 0, heads, D, w.qNorm, eps);
			rmsNormHeads(qkv, rows, stride, heads * D, kvHeads, D, w.kNorm, eps);
		}
		const attended = new Float32Array(rows * heads * D);
		const shape = { heads, kvHeads, headDim: D, window: spec.windows[l]! };
		for (const span of spans) {
			// q and k heads are adjacent in a row: one pass rotates all of them.
			applyRope(qkv, stride, span.first, span.tokens, heads + kvHeads, D, span.rope);
			attendPrompt(qkv, span.first, span.tokens, shape, attended);
		}
		const projected = await backend.linear(attended, rows, w.o, { bias: w.oBias });
		for (let i = 0; i < x.length; i++) x[i] += projected[i]!;
	} finally {
		backend.free(w.qkv);
		backend.free(w.o);
	}
}
