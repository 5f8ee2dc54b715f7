/**
 * A decoder layer's weights in two halves, attention (q/k/v stacked into one projection, o) and MLP
 * (gate/up stacked, down), each in two steps so the next half can be read while this one multiplies:
 * read brings the raw bytes into the backend's raw buffers, pack hands them to the backend and gives
 * the raw memory back. Stacking gives one matrix product for all prompts' tokens per projection.
 * With one half in use and the next half's raw bytes alive at a time, a 7B layer needs ~0.45 GB
 * with the kernel engine (raw bf16 used as it is, see packHalf), ~0.8 GB with a backend that packs to
 * f32, instead of 1.3 GB for a whole packed layer and the next one's raw bytes.
 */
import type { ModelWeights } from "../safetensors/index.js";
import { takeRawBuffer, type LinearBackend, type LinearDType, type RawBuffer } from "./linear-backend.js";
import { tensorNames, type ModelSpec } from "./model-spec.js";
import { readStacked, readVector, readVectors } from "./tensor-io.js";

export interface AttentionVectors {
	inputNorm: Float32Array;
	qkvBias?: Float32Array;
	/** Qwen3's per-head RMSNorm weights [headDim]. */
	qNorm?: Float32Array;
	kNorm?: Float32Array;
	oBias?: Float32Array;
}

export interface MlpVectors {
	postNorm: Float32Array;
	gateUpBias?: Float32Array;
	downBias?: Float32Array;
}

export interface AttentionWeights extends AttentionVectors {
	/** [(heads + 2 kvHeads) · headDim, hidden]: q rows, then k, then v. */
	qkv: unknown;
	o: unknown;
}

export interface MlpWeights extends MlpVectors {
	/** [2 · intermediate, hidden]: gate rows, then up. */
	gateUp: unknown;
	down: unknown;
}

interface RawMatrix {
	raw: RawBuffer;
	dtype: LinearDType;
	rows: number;
	cols: number;
}

/** A half read from disk: its matrices' raw bytes (in product order) and its vectors. */
export interface RawHalf<V, K extends string> {
	matrices: Record<K, RawMatrix>;
	vectors: V;
}

export type RawAttention = RawHalf<AttentionVectors, "qkv" | "o">;
export type RawMlp = RawHalf<MlpVectors, "gateUp" | "down">;

type Parts = { name: string; rows: number }[];

export function readAttention(weights: ModelWeights, spec: ModelSpec, l: number, backend: LinearBackend): Promise<RawAttention> {
	const name = (rest: string): string => tensorNames.layer(l, rest);
	const { hidden: H, heads, kvHeads, headDim: D } = spec;
	const qkv = [{ name: name("self_attn.q_proj"), rows: heads * D }, { name: name("self_attn.k_proj"), rows: kvHeads * D }, { name: name("self_attn.v_proj"), rows: kvHeads * D }];
	return readHalf(weights, backend, {
		qkv: { parts: qkv.map((p) => ({ name: `${p.name}.weight`, rows: p.rows })), cols: H },
		o: { parts: [{ name: name("self_attn.o_proj.weight"), rows: H }], cols: heads * D },
	}, async () => {
		const vectors: AttentionVectors = { inputNorm: await readVector(weights, name("input_layernorm.weight"), H) };
		if (spec.qkvBias) vectors.qkvBias = await readVectors(weights, qkv.map((p) => ({ name: `${p.name}.bias`, length: p.rows })));
		if (spec.oBias) vectors.oBias = await readVector(weights, name("self_attn.o_proj.bias"), H);
		if (spec.qkNorm) {
			vectors.qNorm = await readVector(weights, name("self_attn.q_norm.weight"), D);
			vectors.kNorm = await readVector(weights, name("self_attn.k_norm.weight"), D);
		}
		return vectors;
	});
}

export function readMlp(weights: ModelWeights, spec: ModelSpec, l: number, backend: LinearBackend): Promise<RawMlp> {
	const name = (rest: string): string => tensorNames.layer(l, rest);
	const { hidden: H, intermediate: I } = spec;
	return readHalf(weights, backend, {
		gateUp: { parts: [{ name: name("mlp.gate_proj.weight"), rows: I }, { name: name("mlp.up_proj.weight"), rows: I }], cols: H },
		down: { parts: [{ name: name("mlp.down_proj.weight"), rows: H }], cols: I },
	}, async () => {
		const vectors: MlpVectors = { postNorm: await readVector(weights, name("post_attention_layernorm.weight"), H) };
		if (spec.mlpBias) {
			vectors.gateUpBias = await readVectors(weights, [{ name: name("mlp.gate_proj.bias"), length: I }, { name: name("mlp.up_proj.bias"), length: I }]);
			vectors.downBias = await readVector(weights, name("mlp.down_proj.bias"), H);
		}
		return vectors;
	});
}

async function readHalf<V, K extends string>(weights: ModelWeights, backend: LinearBackend, layout: Record<K, { parts: Parts; cols: number }>, vectors: () => Promise<V>): Promise<RawHalf<V, K>> {
	const matrices = {} as Record<K, RawMatrix>;
	try {
		for (const key of Object.keys(layout) as K[]) matrices[key] = await readRaw(weights, layout[key].parts, layout[key].cols, backend);
		return { matrices, vectors: await vectors() };
	} catch (error) {
		await releaseHalf({ matrices, vectors: undefined });
		throw error;
	}
}

/**
 * Packs a read half (one matrix at a time, in order) and releases its raw memory, whatever happens.
 * A backend with rawLinear uses the raw bytes as they are (each weight is multiplied once, so a
 * packing pass would cost more than it saves); their memory then comes back when the weights are freed.
 */
export async function packHalf<V, K extends string>(raw: RawHalf<V, K>, backend: LinearBackend): Promise<V & Record<K, unknown>> {
	const packed = {} as Record<K, unknown>;
	try {
		for (const key of Object.keys(raw.matrices) as K[]) {
			const { raw: buffer, dtype, rows, cols } = raw.matrices[key];
			packed[key] = backend.rawLinear
				? await backend.rawLinear(buffer, dtype, rows, cols)
				: await backend.packLinear(buffer.bytes, dtype, rows, cols);
		}
		return { ...raw.vectors, ...packed };
	} catch (error) {
		for (const w of Object.values(packed)) backend.free(w);
		throw error;
	} finally {
		await releaseHalf(raw);
	}
}

/** Gives a read half's raw memory back (after a failure, or once packed). */
export async function releaseHalf(raw: { matrices: Partial<Record<string, RawMatrix>>; vectors: unknown }): Promise<void> {
	await Promise.all(Object.values(raw.matrices).map((m) => m?.raw.release()));
}

/** Frees packed matrices (those of a half once its products are done). */
export function freeMatrices(backend: LinearBackend, ...matrices: unknown[]): void {
	for (const w of matrices) backend.free(w);
}

/** Reads stacked matrices (see readStacked) into a raw buffer of the backend, released if the read fails. */
async function readRaw(weights: ModelWeights, parts: Parts, cols: number, backend: LinearBackend): Promise<RawMatrix> {
	let raw: RawBuffer | undefined;
	try {
		const { dtype, rows } = await readStacked(weights, parts, cols, (bytes) => (raw = takeRawBuffer(backend, bytes)).bytes);
		return { raw: raw!, dtype, rows, cols };
	} catch (error) {
		await raw?.release();
		throw error;
	}
}
