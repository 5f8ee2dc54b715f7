import { layerName } from "../inputs/input-families.js";
import { MIXTRAL_GGUF } from "../gguf/architectures/llama.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { FUSED_EXPERT_NAMES, denseMlpName, routerTrainingConfig } from "./moe-config-parts.js";
import type { OutputArchitecture } from "./output-architecture.js";

const MIXTRAL_PROJECTION = { gate_proj: "w1", down_proj: "w2", up_proj: "w3" } as const;
const MODEL_TYPE = "mixtral";
const EXPERTS = "num_local_experts";

/** Mixtral: Llama/Mistral attention, every MLP replaced by a routed sparse MoE block, no shared expert. */
export const mixtral: OutputArchitecture = {
	name: "mixtral",
	displayName: "Mixtral",
	modelType: MODEL_TYPE,
	attention: "mistral",
	inputModelTypes: ["llama", "mistral"],
	sharedExperts: { min: 0, max: 0 },
	biases: {
		carried: [],
		whyNot: "architecture: qwen (Qwen MoE) carries q/k/v biases, deepseek (DeepSeek MoE) carries Llama's attention_bias",
	},
	expertTensorName: (layer, expert, projection) => layerName(layer, `block_sparse_moe.experts.${expert}.${MIXTRAL_PROJECTION[projection]}.weight`),
	fusedExpertNames: FUSED_EXPERT_NAMES,
	routerName: (layer, layout) => layerName(layer, layout === "fused" ? "mlp.gate.weight" : "block_sparse_moe.gate.weight"),
	denseMlpName,
	// Softmax over the experts, then the top k renormalised (MixtralSparseMoeBlock).
	router: { scoring: "softmax", normTopK: () => true },
	config: { experts: [EXPERTS], expertIntermediate: "intermediate_size", sparseLayer: () => true },
	gguf: MIXTRAL_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, dtype, training }) {
		return {
			architectures: ["MixtralForCausalLM"],
			model_type: MODEL_TYPE,
			...llamaLikeAttentionConfig(base),
			// Mistral bases keep their window (mergekit-moe drops it, which changes outputs beyond it).
			sliding_window: base.slidingWindow,
			[EXPERTS]: numExperts,
			num_experts_per_tok: expertsPerToken,
			...routerTrainingConfig(training),
			router_jitter_noise: 0.0,
			torch_dtype: dtype,
		};
	},
};
