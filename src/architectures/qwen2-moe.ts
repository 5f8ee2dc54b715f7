import { layerName } from "../inputs/input-families.js";
import { QWEN2_MOE_GGUF } from "../gguf/architectures/qwen.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { QWEN_MOE_PARTS, qwenExpertConfig, qwenWindowConfig, qwenWindowProblem, routerTrainingConfig } from "./moe-config-parts.js";
import type { OutputArchitecture } from "./output-architecture.js";

const MODEL_TYPE = "qwen2_moe";
const SHARED_INTERMEDIATE = "shared_expert_intermediate_size";

/**
 * Qwen2-MoE (`Qwen2MoeForCausalLM`): Qwen2 attention (q/k/v biases: copied from Qwen2 inputs, zeros for
 * Llama/Mistral ones), routed experts plus one always-on shared expert scaled by sigmoid(gate · x).
 * N shared experts of the recipe are one shared expert of N × the dense intermediate size.
 */
export const qwen2Moe: OutputArchitecture = {
	name: "qwen2_moe",
	displayName: "Qwen MoE",
	modelType: MODEL_TYPE,
	attention: "qwen2",
	inputModelTypes: ["llama", "mistral", "qwen2"],
	sharedExperts: { min: 1, max: Number.POSITIVE_INFINITY },
	biases: {
		carried: ["q_proj", "k_proj", "v_proj"],
		zeros: ["q_proj", "k_proj", "v_proj"],
		whyNot: "Qwen MoE attention has q/k/v biases only; architecture: deepseek (DeepSeek MoE) carries an o_proj bias",
	},
	unsupportedInput(config) {
		if (config.headDim * config.numHeads !== config.hiddenSize) {
			return `its head_dim ${config.headDim} × ${config.numHeads} heads is not hidden_size ${config.hiddenSize}, which transformers 4.57's Qwen MoE refuses`;
		}
		return qwenWindowProblem(config);
	},
	...QWEN_MOE_PARTS,
	sharedExpertNames: {
		projection: (layer, projection) => layerName(layer, `mlp.shared_expert.${projection}.weight`),
		gate: (layer) => layerName(layer, "mlp.shared_expert_gate.weight"),
	},
	config: { ...QWEN_MOE_PARTS.config, sharedIntermediate: (config) => config[SHARED_INTERMEDIATE] },
	gguf: QWEN2_MOE_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, sharedExperts, dtype, training }) {
		const { head_dim: _derived, ...attention } = llamaLikeAttentionConfig(base);
		return {
			architectures: ["Qwen2MoeForCausalLM"],
			model_type: MODEL_TYPE,
			...attention,
			...qwenWindowConfig(base),
			qkv_bias: true,
			...qwenExpertConfig(base, numExperts, expertsPerToken),
			[SHARED_INTERMEDIATE]: sharedExperts * base.intermediateSize,
			...routerTrainingConfig(training),
			torch_dtype: dtype,
		};
	},
};
