import { QWEN3_MOE_GGUF } from "../gguf/architectures/qwen.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { QWEN_MOE_PARTS, qwenExpertConfig, qwenWindowConfig, qwenWindowProblem, routerTrainingConfig } from "./moe-config-parts.js";
import type { OutputArchitecture } from "./output-architecture.js";

const MODEL_TYPE = "qwen3_moe";

/** Qwen3-MoE (`Qwen3MoeForCausalLM`): Qwen3 attention with its q/k norms (copied from the base), routed experts only. */
export const qwen3Moe: OutputArchitecture = {
	name: "qwen3_moe",
	displayName: "Qwen3 MoE",
	modelType: MODEL_TYPE,
	attention: "qwen3",
	inputModelTypes: ["qwen3"],
	sharedExperts: { min: 0, max: 0 },
	// Qwen3's attention_bias gives q/k/v/o biases; the config flag is carried over with them.
	biases: { carried: ["q_proj", "k_proj", "v_proj", "o_proj"] },
	unsupportedInput: qwenWindowProblem,
	...QWEN_MOE_PARTS,
	gguf: QWEN3_MOE_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, dtype, training }) {
		return {
			architectures: ["Qwen3MoeForCausalLM"],
			model_type: MODEL_TYPE,
			...llamaLikeAttentionConfig(base),
			...qwenWindowConfig(base),
			attention_bias: base.biases.length > 0,
			...qwenExpertConfig(base, numExperts, expertsPerToken),
			...routerTrainingConfig(training),
			torch_dtype: dtype,
		};
	},
};
