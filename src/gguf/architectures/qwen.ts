/**
 * llama.cpp's qwen2, qwen3, qwen2moe and qwen3moe architectures, as the converter's Qwen2Model,
 * Qwen3Model, Qwen2MoeModel and Qwen3MoeModel write them (no Q/K permutation: llama.cpp runs them with
 * the NeoX rope, which pairs halves as transformers does).
 */
import { DENSE_MLP_RULES, FUSED_EXPERT_RULES, type GgufArchitecture, LLAMA_LIKE_RULES, MLP_EXPERT_RULES, rule } from "../architecture.js";
import { u32 } from "../metadata.js";

type Json = Record<string, unknown>;

function windowDifference(config: Json): string | null {
	if (config.use_sliding_window === true && typeof config.sliding_window === "number") {
		return `config.json enables a sliding window of ${config.sliding_window} tokens, which llama.cpp's Qwen architectures do not apply: beyond it outputs differ from transformers'`;
	}
	return null;
}

/** llama.cpp's qwen2moe weights the top-k experts by their softmax scores as they are (never renormalized). */
function qwen2MoeDifferences(config: Json): string | null {
	const k = config.num_experts_per_tok;
	if (config.norm_topk_prob === true && typeof k === "number" && k < (config.num_experts as number)) {
		return `config.json has norm_topk_prob: true with ${k} of ${String(config.num_experts)} experts per token; llama.cpp's qwen2moe does not renormalize the top-k weights, so its outputs differ from transformers'`;
	}
	return windowDifference(config);
}

const optional = (key: string, value: unknown) => (typeof value === "number" ? [u32(key, value)] : []);

export const QWEN2_GGUF: GgufArchitecture = {
	arch: "qwen2",
	permuteQK: false,
	names: [...LLAMA_LIKE_RULES, ...DENSE_MLP_RULES],
	hyperparameters: () => [],
	differences: windowDifference,
};

export const QWEN3_GGUF: GgufArchitecture = { ...QWEN2_GGUF, arch: "qwen3" };

export const QWEN2_MOE_GGUF: GgufArchitecture = {
	arch: "qwen2moe",
	permuteQK: false,
	// The converter writes no output.weight for tied embeddings, and this llama.cpp's qwen2moe then fails to load.
	untiedOutput: true,
	names: [
		...LLAMA_LIKE_RULES,
		...MLP_EXPERT_RULES,
		...FUSED_EXPERT_RULES,
		rule("model.layers.{L}.mlp.shared_expert.gate_proj.{W}", "blk.{L}.ffn_gate_shexp.{W}"),
		rule("model.layers.{L}.mlp.shared_expert.up_proj.{W}", "blk.{L}.ffn_up_shexp.{W}"),
		rule("model.layers.{L}.mlp.shared_expert.down_proj.{W}", "blk.{L}.ffn_down_shexp.{W}"),
		rule("model.layers.{L}.mlp.shared_expert_gate.{W}", "blk.{L}.ffn_gate_inp_shexp.{W}"),
		...DENSE_MLP_RULES,
	],
	hyperparameters: (config) => [
		...optional("qwen2moe.expert_feed_forward_length", config.moe_intermediate_size),
		...optional("qwen2moe.expert_shared_feed_forward_length", config.shared_expert_intermediate_size),
	],
	differences: qwen2MoeDifferences,
};

export const QWEN3_MOE_GGUF: GgufArchitecture = {
	arch: "qwen3moe",
	permuteQK: false,
	names: [...LLAMA_LIKE_RULES, ...MLP_EXPERT_RULES, ...FUSED_EXPERT_RULES, ...DENSE_MLP_RULES],
	hyperparameters: (config) => optional("qwen3moe.expert_feed_forward_length", config.moe_intermediate_size),
	differences: windowDifference,
};
