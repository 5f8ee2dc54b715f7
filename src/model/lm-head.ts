/**
 * Final-norm + lm_head logits of a few rows (the report's next tokens; tests compare them with transformers). The vocabulary
 * matrix can be huge, so it goes through the backend in slices of rows.
 */
import { dtypeBytes, type ModelWeights } from "../safetensors/index.js";
import type { LinearBackend } from "./linear-backend.js";
import { tensorNames, type ModelSpec } from "./model-spec.js";
import { rmsNorm } from "./rms-norm.js";
import { locate, readRows, type ReadBuffer } from "./tensor-io.js";

/** Values per slice of the vocabulary matrix (16 M = 64 MB as f32). */
const SLICE_VALUES = 1 << 24;

/** logits [rows, vocab] of `x` [rows, hidden] (already final-normed). */
export async function computeLogits(weights: ModelWeights, spec: ModelSpec, x: Float32Array, rows: number, backend: LinearBackend, buffer: ReadBuffer): Promise<Float32Array> {
	const { hidden: H, vocab: V } = spec;
	const name = spec.tiedEmbeddings ? tensorNames.embed : tensorNames.lmHead;
	const location = locate(weights, name, [V, H]);
	const sliceRows = Math.max(1, Math.min(V, Math.floor(SLICE_VALUES / H)));
	const logits = new Float32Array(rows * V);
	const part = new Float32Array(rows * sliceRows);
	for (let first = 0; first < V; first += sliceRows) {
		const count = Math.min(sliceRows, V - first);
		const bytes = await readRows(location, H, first, count, buffer.take(count * H * dtypeBytes(location.dtype)));
		const w = await backend.packLinear(bytes, location.dtype, count, H);
		try {
			const y = await backend.linear(x, rows, w, { out: part.subarray(0, rows * count) });
			for (let r = 0; r < rows; r++) logits.set(y.subarray(r * count, (r + 1) * count), r * V + first);
		} finally {
			backend.free(w);
		}
	}
	return logits;
}

/**
 * The next-token logits of each prompt: its last row of `x` [rows, hidden], final-normed with
 * `normWeight`, through the head. One [vocab] array per prompt.
 */
export async function lastTokenLogits(
	weights: ModelWeights,
	spec: ModelSpec,
	x: Float32Array,
	prompts: readonly { first: number; tokens: number }[],
	normWeight: Float32Array,
	backend: LinearBackend,
	buffer: ReadBuffer,
): Promise<Float32Array[]> {
	const H = spec.hidden;
	const last = new Float32Array(prompts.length * H);
	prompts.forEach((r, p) => last.set(x.subarray((r.first + r.tokens - 1) * H, (r.first + r.tokens) * H), p * H));
	rmsNorm(last, last, prompts.length, H, normWeight, spec.eps);
	const logits = await computeLogits(weights, spec, last, prompts.length, backend, buffer);
	return prompts.map((_, p) => logits.slice(p * spec.vocab, (p + 1) * spec.vocab));
}
