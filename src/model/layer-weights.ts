/**
 * One decoder layer's weights in two steps, so the next layer can be read while this one multiplies:
 * readLayer brings the raw bytes into the backend's raw buffers (q/k/v stacked into one projection and
 * gate/up into another, so each needs a single matrix product for all prompts' tokens); packLayer hands
 * them to the backend and gives the raw memory back. Free a packed layer before packing the next one.
 */
import type { ModelWeights } from "../safetensors/index.js";
import { takeRawBuffer, type LinearBackend, type LinearDType, type RawBuffer } from "./linear-backend.js";
import { tensorNames, type ModelSpec } from "./model-spec.js";
import { readStacked, readVector, readVectors } from "./tensor-io.js";

export interface LayerVectors {
	inputNorm: Float32Array;
	postNorm: Float32Array;
	qkvBias?: Float32Array;
	/** Qwen3's per-head RMSNorm weights [headDim]. */
	qNorm?: Float32Array;
	kNorm?: Float32Array;
	oBias?: Float32Array;
	gateUpBias?: Float32Array;
	downBias?: Float32Array;
}

export interface LayerWeights extends LayerVectors {
	/** [(heads + 2 kvHeads) · headDim, hidden]: q rows, then k, then v. */
	qkv: unknown;
	o: unknown;
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

const MATRICES = ["qkv", "o", "gateUp", "down"] as const;

export interface RawLayer {
	matrices: Record<(typeof MATRICES)[number], RawMatrix>;
	vectors: LayerVectors;
}

export async function readLayer(weights: ModelWeights, spec: ModelSpec, l: number, backend: LinearBackend): Promise<RawLayer> {
	const name = (rest: string): string => tensorNames.layer(l, rest);
	const { hidden: H, heads, kvHeads, headDim: D, intermediate: I } = spec;
	const qkvParts = [{ name: name("self_attn.q_proj"), rows: heads * D }, { name: name("self_attn.k_proj"), rows: kvHeads * D }, { name: name("self_attn.v_proj"), rows: kvHeads * D }];
	const read: RawMatrix[] = [];
	try {
		const matrix = async (parts: { name: string; rows: number }[], cols: number): Promise<RawMatrix> => {
			const m = await readRaw(weights, parts, cols, backend);
			read.push(m);
			return m;
		};
		const matrices = {
			qkv: await matrix(qkvParts.map((p) => ({ name: `${p.name}.weight`, rows: p.rows })), H),
			o: await matrix([{ name: name("self_attn.o_proj.weight"), rows: H }], heads * D),
			gateUp: await matrix([{ name: name("mlp.gate_proj.weight"), rows: I }, { name: name("mlp.up_proj.weight"), rows: I }], H),
			down: await matrix([{ name: name("mlp.down_proj.weight"), rows: H }], I),
		};
		const vectors: LayerVectors = {
			inputNorm: await readVector(weights, name("input_layernorm.weight"), H),
			postNorm: await readVector(weights, name("post_attention_layernorm.weight"), H),
		};
		if (spec.qkvBias) vectors.qkvBias = await readVectors(weights, qkvParts.map((p) => ({ name: `${p.name}.bias`, length: p.rows })));
		if (spec.oBias) vectors.oBias = await readVector(weights, name("self_attn.o_proj.bias"), H);
		if (spec.qkNorm) {
			vectors.qNorm = await readVector(weights, name("self_attn.q_norm.weight"), D);
			vectors.kNorm = await readVector(weights, name("self_attn.k_norm.weight"), D);
		}
		if (spec.mlpBias) {
			vectors.gateUpBias = await readVectors(weights, [{ name: name("mlp.gate_proj.bias"), length: I }, { name: name("mlp.up_proj.bias"), length: I }]);
			vectors.downBias = await readVector(weights, name("mlp.down_proj.bias"), H);
		}
		return { matrices, vectors };
	} catch (error) {
		await Promise.all(read.map((m) => m.raw.release()));
		throw error;
	}
}

/** Packs a read layer (one matrix at a time, in order) and releases its raw memory, whatever happens. */
export async function packLayer(raw: RawLayer, backend: LinearBackend): Promise<LayerWeights> {
	const packed: unknown[] = [];
	try {
		for (const key of MATRICES) {
			const { raw: buffer, dtype, rows, cols } = raw.matrices[key];
			packed.push(await backend.packLinear(buffer.bytes, dtype, rows, cols));
		}
		const [qkv, o, gateUp, down] = packed;
		return { ...raw.vectors, qkv, o, gateUp, down };
	} catch (error) {
		for (const w of packed) backend.free(w);
		throw error;
	} finally {
		await releaseLayer(raw);
	}
}

/** Gives a read layer's raw memory back (after a failure, or once packed). */
export async function releaseLayer(raw: RawLayer): Promise<void> {
	await Promise.all(MATRICES.map((key) => raw.matrices[key].raw.release()));
}

export function freeLayer(backend: LinearBackend, layer: LayerWeights): void {
	backend.free(layer.qkv);
	backend.free(layer.o);
	backend.free(layer.gateUp);
	backend.free(layer.down);
}

/** Reads stacked matrices (see readStacked) into a raw buffer of the backend, released if the read fails. */
async function readRaw(weights: ModelWeights, parts: { name: string; rows: number }[], cols: number, backend: LinearBackend): Promise<RawMatrix> {
	let raw: RawBuffer | undefined;
	try {
		const { dtype, rows } = await readStacked(weights, parts, cols, (bytes) => (raw = takeRawBuffer(backend, bytes)).bytes);
		return { raw: raw!, dtype, rows, cols };
	} catch (error) {
		await raw?.release();
		throw error;
	}
}
