/**
 * One decoder layer's weights, read from disk and handed to the backend: q/k/v stacked into one
 * projection and gate/up into another, so each needs a single matrix product for all prompts' tokens.
 * Only one layer is held at a time; free it before loading the next.
 */
import type { ModelWeights } from "../safetensors/index.js";
import type { LinearBackend } from "./linear-backend.js";
import { tensorNames, type ModelSpec } from "./model-spec.js";
import { readStacked, readVector, readVectors, type ReadBuffer } from "./tensor-io.js";

export interface LayerWeights {
	inputNorm: Float32Array;
	postNorm: Float32Array;
	/** [(heads + 2 kvHeads) · headDim, hidden]: q rows, then k, then v. */
	qkv: unknown;
	qkvBias?: Float32Array;
	/** Qwen3's per-head RMSNorm weights [headDim]. */
	qNorm?: Float32Array;
	kNorm?: Float32Array;
	o: unknown;
	oBias?: Float32Array;
	/** [2 · intermediate, hidden]: gate rows, then up. */
	gateUp: unknown;
	gateUpBias?: Float32Array;
	down: unknown;
	downBias?: Float32Array;
}

/** `buffer` receives each matrix's raw bytes in turn (the backend copies them when packing). */
export async function loadLayer(weights: ModelWeights, spec: ModelSpec, l: number, backend: LinearBackend, buffer: ReadBuffer): Promise<LayerWeights> {
	const name = (rest: string): string => tensorNames.layer(l, rest);
	const { hidden: H, heads, kvHeads, headDim: D, intermediate: I } = spec;
	const qRows = heads * D;
	const kvRows = kvHeads * D;
	const packed: unknown[] = [];
	// Matrices are packed one by one so only one raw copy exists at a time.
	const pack = async (parts: { name: string; rows: number }[], cols: number): Promise<unknown> => {
		const { bytes, dtype, rows } = await readStacked(weights, parts, cols, buffer);
		const w = await backend.packLinear(bytes, dtype, rows, cols);
		packed.push(w);
		return w;
	};
	try {
		const qkvParts = [{ name: name("self_attn.q_proj"), length: qRows }, { name: name("self_attn.k_proj"), length: kvRows }, { name: name("self_attn.v_proj"), length: kvRows }];
		const layer: LayerWeights = {
			inputNorm: await readVector(weights, name("input_layernorm.weight"), H),
			postNorm: await readVector(weights, name("post_attention_layernorm.weight"), H),
			qkv: await pack(qkvParts.map((p) => ({ name: `${p.name}.weight`, rows: p.length })), H),
			o: await pack([{ name: name("self_attn.o_proj.weight"), rows: H }], qRows),
			gateUp: await pack([{ name: name("mlp.gate_proj.weight"), rows: I }, { name: name("mlp.up_proj.weight"), rows: I }], H),
			down: await pack([{ name: name("mlp.down_proj.weight"), rows: H }], I),
		};
		if (spec.qkvBias) layer.qkvBias = await readVectors(weights, qkvParts.map((p) => ({ name: `${p.name}.bias`, length: p.length })));
		if (spec.oBias) layer.oBias = await readVector(weights, name("self_attn.o_proj.bias"), H);
		if (spec.qkNorm) {
			layer.qNorm = await readVector(weights, name("self_attn.q_norm.weight"), D);
			layer.kNorm = await readVector(weights, name("self_attn.k_norm.weight"), D);
		}
		if (spec.mlpBias) {
			layer.gateUpBias = await readVectors(weights, [{ name: name("mlp.gate_proj.bias"), length: I }, { name: name("mlp.up_proj.bias"), length: I }]);
			layer.downBias = await readVector(weights, name("mlp.down_proj.bias"), H);
		}
		return layer;
	} catch (error) {
		for (const w of packed) backend.free(w);
		throw error;
	}
}

export function freeLayer(backend: LinearBackend, layer: LayerWeights): void {
	backend.free(layer.qkv);
	backend.free(layer.o);
	backend.free(layer.gateUp);
	backend.free(layer.down);
}
