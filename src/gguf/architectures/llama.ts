/**
 * llama.cpp's `llama` architecture: dense Llama and Mistral, and Mixtral (the same with experts), as
 * the converter's LlamaModel writes them.
 */
import { DENSE_MLP_RULES, FUSED_EXPERT_RULES, type GgufArchitecture, type GgufExtraTensor, LLAMA_LIKE_RULES, rule } from "../architecture.js";
import { headDim, ropeParameters } from "../hyperparameters.js";
import { u32 } from "../metadata.js";

type Json = Record<string, unknown>;

function llamaHyperparameters(config: Json) {
	return [u32("llama.vocab_size", config.vocab_size as number), u32("llama.rope.dimension_count", headDim(config))];
}

/**
 * llama3 rope scaling is a tensor of per-frequency factors (rope_freqs.weight), computed as the
 * converter's generate_extra_tensors does (its original context length is config.json's top-level
 * original_max_position_embeddings, else 8192, not the rope_scaling entry).
 */
function llama3RopeFactors(config: Json): GgufExtraTensor[] {
	const rope = ropeParameters(config);
	if (String(rope.rope_type ?? "").toLowerCase() !== "llama3") return [];
	const base = typeof rope.rope_theta === "number" ? rope.rope_theta : 10000;
	const dim = headDim(config);
	const factor = typeof rope.factor === "number" ? rope.factor : 8;
	const low = typeof rope.low_freq_factor === "number" ? rope.low_freq_factor : 1;
	const high = typeof rope.high_freq_factor === "number" ? rope.high_freq_factor : 4;
	const oldContext = typeof config.original_max_position_embeddings === "number" ? config.original_max_position_embeddings : 8192;
	const lowWavelen = oldContext / low;
	const highWavelen = oldContext / high;
	const values = new Float32Array(dim / 2);
	for (let i = 0; i < dim / 2; i++) {
		// torch computes these in float32.
		const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
		const wavelen = Math.fround((2 * Math.PI) / freq);
		if (wavelen < highWavelen) values[i] = 1;
		else if (wavelen > lowWavelen) values[i] = factor;
		else {
			const smooth = Math.fround((Math.fround(oldContext / wavelen) - low) / (high - low));
			values[i] = 1 / ((1 - smooth) / factor + smooth);
		}
	}
	return [{ name: "rope_freqs.weight", values }];
}

/** llama.cpp's llama attention has no sliding window: a window shorter than the context is lost. */
function windowDifference(config: Json): string | null {
	const window = config.sliding_window;
	if (typeof window === "number" && window < ((config.max_position_embeddings as number | undefined) ?? Number.POSITIVE_INFINITY)) {
		return `config.json has a sliding window of ${window} tokens, which llama.cpp's llama architecture does not apply: beyond ${window} tokens its outputs differ from transformers'`;
	}
	return null;
}

export const LLAMA_GGUF: GgufArchitecture = {
	arch: "llama",
	permuteQK: true,
	names: [...LLAMA_LIKE_RULES, ...DENSE_MLP_RULES],
	hyperparameters: llamaHyperparameters,
	extraTensors: llama3RopeFactors,
	differences: windowDifference,
};

export const MIXTRAL_GGUF: GgufArchitecture = {
	arch: "llama",
	permuteQK: true,
	names: [
		...LLAMA_LIKE_RULES,
		rule("model.layers.{L}.block_sparse_moe.experts.{E}.w1.{W}", "blk.{L}.ffn_gate_exps.{W}", { kind: "expert" }),
		rule("model.layers.{L}.block_sparse_moe.experts.{E}.w3.{W}", "blk.{L}.ffn_up_exps.{W}", { kind: "expert" }),
		rule("model.layers.{L}.block_sparse_moe.experts.{E}.w2.{W}", "blk.{L}.ffn_down_exps.{W}", { kind: "expert" }),
		rule("model.layers.{L}.block_sparse_moe.gate.{W}", "blk.{L}.ffn_gate_inp.{W}"),
		...FUSED_EXPERT_RULES,
		rule("model.layers.{L}.mlp.gate.{W}", "blk.{L}.ffn_gate_inp.{W}"),
	],
	hyperparameters: llamaHyperparameters,
	extraTensors: llama3RopeFactors,
	differences: windowDifference,
};
