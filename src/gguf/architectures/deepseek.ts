/** llama.cpp's `deepseek` architecture (DeepSeek-MoE v1), as the converter's DeepseekModel writes it. */
import { DENSE_MLP_RULES, type GgufArchitecture, LLAMA_LIKE_RULES, MLP_EXPERT_RULES, rule } from "../architecture.js";
import { headDim } from "../hyperparameters.js";
import { f32, str, u32 } from "../metadata.js";

export const DEEPSEEK_GGUF: GgufArchitecture = {
	arch: "deepseek",
	permuteQK: true,
	names: [
		...LLAMA_LIKE_RULES,
		...MLP_EXPERT_RULES,
		rule("model.layers.{L}.mlp.shared_experts.gate_proj.{W}", "blk.{L}.ffn_gate_shexp.{W}"),
		rule("model.layers.{L}.mlp.shared_experts.up_proj.{W}", "blk.{L}.ffn_up_shexp.{W}"),
		rule("model.layers.{L}.mlp.shared_experts.down_proj.{W}", "blk.{L}.ffn_down_shexp.{W}"),
		...DENSE_MLP_RULES,
	],
	hyperparameters: (config) => [
		u32("deepseek.rope.dimension_count", headDim(config)),
		str("deepseek.rope.scaling.type", "none"),
		u32("deepseek.leading_dense_block_count", (config.first_k_dense_replace as number | undefined) ?? 0),
		u32("deepseek.vocab_size", config.vocab_size as number),
		u32("deepseek.expert_feed_forward_length", config.moe_intermediate_size as number),
		f32("deepseek.expert_weights_scale", 1.0),
		u32("deepseek.expert_count", config.n_routed_experts as number),
		u32("deepseek.expert_shared_count", (config.n_shared_experts as number | null | undefined) ?? 0),
	],
	unsupported: (config) =>
		typeof config.n_shared_experts === "number" && config.n_shared_experts > 0
			? null
			: "a DeepSeek MoE without shared experts (n_shared_experts is null): llama.cpp's deepseek architecture requires them",
	differences: (config) => {
		const k = config.num_experts_per_tok;
		if (config.norm_topk_prob === true && typeof k === "number" && k < (config.n_routed_experts as number)) {
			return `config.json has norm_topk_prob: true with ${k} of ${String(config.n_routed_experts)} experts per token; llama.cpp's deepseek does not renormalize the top-k weights, so its outputs differ from transformers'`;
		}
		return null;
	},
};
