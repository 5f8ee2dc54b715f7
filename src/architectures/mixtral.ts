import { MIXTRAL_GGUF } from "../gguf/architectures/llama.js";
import type { OutputArchitecture } from "./output-architecture.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { routerTrainingConfig } from "./moe-config-parts.js";

const MIXTRAL_PROJECTION = { gate_proj: "w1", down_proj: "w2", up_proj: "w3" } as const;

/** transformers 5's stacked experts, named alike in Mixtral, Qwen2-MoE and Qwen3-MoE. */
export const FUSED_EXPERT_NAMES = (layer: number) => ({
	gateUp: `model.layers.${layer}.mlp.experts.gate_up_proj`,
	down: `model.layers.${layer}.mlp.experts.down_proj`,
});

/** Mixtral: Llama/Mistral attention, every MLP replaced by a routed sparse MoE block, no shared expert. */
export const mixtral: OutputArchitecture = {
	name: "mixtral",
	displayName: "Mixtral",
	inputModelTypes: ["llama", "mistral"],
	sharedExperts: { min: 0, max: 0 },
	biases: {
		carried: [],
		whyNot: "architecture: qwen (Qwen MoE) carries q/k/v biases, deepseek (DeepSeek MoE) carries Llama's attention_bias",
	},
	defaults: { expertsPerToken: () => 2 },
	unsupportedInput(config) {
		if (config.hiddenAct !== "silu") return `its MLP activation is ${config.hiddenAct}; Mixtral experts use silu`;
		return null;
	},
	expertTensorName: (layer, expert, projection) =>
		`model.layers.${layer}.block_sparse_moe.experts.${expert}.${MIXTRAL_PROJECTION[projection]}.weight`,
	fusedExpertNames: FUSED_EXPERT_NAMES,
	routerName: (layer, layout) =>
		layout === "fused" ? `model.layers.${layer}.mlp.gate.weight` : `model.layers.${layer}.block_sparse_moe.gate.weight`,
	gguf: MIXTRAL_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, dtype, training }) {
		return {
			architectures: ["MixtralForCausalLM"],
			model_type: "mixtral",
			...llamaLikeAttentionConfig(base),
			// Mistral bases keep their window (mergekit-moe drops it, which changes outputs beyond it).
			sliding_window: base.slidingWindow,
			num_local_experts: numExperts,
			num_experts_per_tok: expertsPerToken,
			...routerTrainingConfig(training),
			router_jitter_noise: 0.0,
			torch_dtype: dtype,
		};
	},
};
