import { QWEN3_MOE_GGUF } from "../gguf/architectures/qwen.js";
import type { OutputArchitecture } from "./output-architecture.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { FUSED_EXPERT_NAMES } from "./mixtral.js";
import { qwenExpertConfig, qwenWindowConfig, qwenWindowProblem, routerTrainingConfig } from "./moe-config-parts.js";

const layerName = (layer: number, rest: string) => `model.layers.${layer}.${rest}`;

/** Qwen3-MoE (`Qwen3MoeForCausalLM`): Qwen3 attention with its q/k norms (copied from the base), routed experts only. */
export const qwen3Moe: OutputArchitecture = {
	name: "qwen3_moe",
	displayName: "Qwen3 MoE",
	inputModelTypes: ["qwen3"],
	sharedExperts: { min: 0, max: 0 },
	// Qwen3's attention_bias gives q/k/v/o biases; the config flag is carried over with them.
	biases: { carried: ["q_proj", "k_proj", "v_proj", "o_proj"] },
	defaults: { expertsPerToken: () => 2 },
	unsupportedInput(config) {
		if (config.hiddenAct !== "silu") return `its MLP activation is ${config.hiddenAct}; Qwen3 MoE experts use silu`;
		return qwenWindowProblem(config);
	},
	expertTensorName: (layer, expert, projection) => layerName(layer, `mlp.experts.${expert}.${projection}.weight`),
	fusedExpertNames: FUSED_EXPERT_NAMES,
	routerName: (layer) => layerName(layer, "mlp.gate.weight"),
	gguf: QWEN3_MOE_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, dtype, training }) {
		return {
			architectures: ["Qwen3MoeForCausalLM"],
			model_type: "qwen3_moe",
			...llamaLikeAttentionConfig(base),
			...qwenWindowConfig(base),
			attention_bias: base.biases.length > 0,
			...qwenExpertConfig(base, numExperts, expertsPerToken),
			...routerTrainingConfig(training),
			torch_dtype: dtype,
		};
	},
};
