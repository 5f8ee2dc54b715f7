import { QWEN2_MOE_GGUF } from "../gguf/architectures/qwen.js";
import type { MlpProjection, OutputArchitecture } from "./output-architecture.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { FUSED_EXPERT_NAMES } from "./mixtral.js";
import { qwenExpertConfig, qwenWindowConfig, qwenWindowProblem, routerTrainingConfig } from "./moe-config-parts.js";

const layerName = (layer: number, rest: string) => `model.layers.${layer}.${rest}`;

/**
 * Qwen2-MoE (`Qwen2MoeForCausalLM`): Qwen2 attention (q/k/v biases: copied from Qwen2 inputs, zeros for
 * Llama/Mistral ones), routed experts plus one always-on shared expert scaled by sigmoid(gate · x).
 * N shared experts of the recipe are one shared expert of N × the dense intermediate size.
 */
export const qwen2Moe: OutputArchitecture = {
	name: "qwen2_moe",
	displayName: "Qwen MoE",
	inputModelTypes: ["llama", "mistral", "qwen2"],
	sharedExperts: { min: 1, max: Number.POSITIVE_INFINITY },
	biases: {
		carried: ["q_proj", "k_proj", "v_proj"],
		zeros: ["q_proj", "k_proj", "v_proj"],
		whyNot: "Qwen MoE attention has q/k/v biases only; architecture: deepseek (DeepSeek MoE) carries an o_proj bias",
	},
	defaults: { expertsPerToken: () => 2 },
	unsupportedInput(config) {
		if (config.hiddenAct !== "silu") return `its MLP activation is ${config.hiddenAct}; Qwen MoE experts use silu`;
		if (config.headDim * config.numHeads !== config.hiddenSize) {
			return `its head_dim ${config.headDim} × ${config.numHeads} heads is not hidden_size ${config.hiddenSize}, which transformers 4.57's Qwen MoE refuses`;
		}
		return qwenWindowProblem(config);
	},
	expertTensorName: (layer, expert, projection) => layerName(layer, `mlp.experts.${expert}.${projection}.weight`),
	fusedExpertNames: FUSED_EXPERT_NAMES,
	routerName: (layer) => layerName(layer, "mlp.gate.weight"),
	sharedExpertNames: {
		projection: (layer: number, projection: MlpProjection) => layerName(layer, `mlp.shared_expert.${projection}.weight`),
		gate: (layer: number) => layerName(layer, "mlp.shared_expert_gate.weight"),
	},
	gguf: QWEN2_MOE_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, sharedExperts, dtype, training }) {
		const { head_dim: _derived, ...attention } = llamaLikeAttentionConfig(base);
		return {
			architectures: ["Qwen2MoeForCausalLM"],
			model_type: "qwen2_moe",
			...attention,
			...qwenWindowConfig(base),
			qkv_bias: true,
			...qwenExpertConfig(base, numExperts, expertsPerToken),
			shared_expert_intermediate_size: sharedExperts * base.intermediateSize,
			...routerTrainingConfig(training),
			torch_dtype: dtype,
		};
	},
};
