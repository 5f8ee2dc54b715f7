import { layerName } from "../inputs/input-families.js";
import { DEEPSEEK_GGUF } from "../gguf/architectures/deepseek.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { ROUTER_AUX_LOSS_COEF, denseMlpName, expertUnderMlp, routerUnderMlp } from "./moe-config-parts.js";
import type { OutputArchitecture, TrainingSettings } from "./output-architecture.js";

const REMOTE_CODE = "deepseek-ai/deepseek-moe-16b-base";
const MODEL_TYPE = "deepseek";
const KEYS = {
	experts: "n_routed_experts",
	sharedExperts: "n_shared_experts",
	expertIntermediate: "moe_intermediate_size",
	firstDense: "first_k_dense_replace",
	layerFreq: "moe_layer_freq",
} as const;

/** A number the config gives, or `fallback` (absent or not a number). */
const num = (config: Record<string, unknown>, key: string, fallback: number): number => {
	const value = config[key];
	return typeof value === "number" ? value : fallback;
};

/**
 * DeepSeek-MoE v1 (`DeepseekForCausalLM`, the remote code of deepseek-moe-16b, as mergekit-moe writes
 * it): Llama attention, routed experts with softmax scores, and ungated shared experts whose outputs are
 * simply added (N of them are one MLP of N × moe_intermediate_size, which is how that code builds them).
 * mergekit-moe's code reads `experts_per_token or (1 if shared_experts else 2)`, but its recipe default
 * is 2, so it writes the common default.
 */
export const deepseekMoe: OutputArchitecture = {
	name: "deepseek_moe",
	displayName: "DeepSeek MoE",
	modelType: MODEL_TYPE,
	attention: "llama",
	inputModelTypes: ["llama", "mistral"],
	sharedExperts: { min: 0, max: Number.POSITIVE_INFINITY },
	// Its attention is Llama's: `attention_bias` gives q/k/v/o biases.
	biases: { carried: ["q_proj", "k_proj", "v_proj", "o_proj"] },
	remoteCode: REMOTE_CODE,
	unsupportedInput(config) {
		if (config.layerSlidingWindows.some((w) => w !== null)) return "its attention has a sliding window, which DeepSeek MoE's attention has not";
		return null;
	},
	expertTensorName: expertUnderMlp,
	routerName: routerUnderMlp,
	sharedExpertNames: { projection: (layer, projection) => layerName(layer, `mlp.shared_experts.${projection}.weight`) },
	denseMlpName,
	// Softmax scores; the top-k weights are renormalised only when norm_topk_prob and top_k > 1.
	router: {
		scoring: "softmax",
		normTopK: (config) => config.norm_topk_prob === true && typeof config.num_experts_per_tok === "number" && config.num_experts_per_tok > 1,
	},
	config: {
		experts: [KEYS.experts],
		expertIntermediate: KEYS.expertIntermediate,
		sharedIntermediate: (config) => num(config, KEYS.sharedExperts, 0) * num(config, KEYS.expertIntermediate, 0),
		// Dense layers before first_k_dense_replace, then every moe_layer_freq-th layer sparse.
		sparseLayer: (config, layer) => {
			const freq = num(config, KEYS.layerFreq, 1);
			return layer >= num(config, KEYS.firstDense, 0) && freq > 0 && layer % freq === 0;
		},
	},
	gguf: DEEPSEEK_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, sharedExperts, dtype, training }) {
		return {
			architectures: ["DeepseekForCausalLM"],
			model_type: MODEL_TYPE,
			auto_map: {
				AutoConfig: `${REMOTE_CODE}--configuration_deepseek.DeepseekConfig`,
				AutoModel: `${REMOTE_CODE}--modeling_deepseek.DeepseekModel`,
				AutoModelForCausalLM: `${REMOTE_CODE}--modeling_deepseek.DeepseekForCausalLM`,
			},
			...llamaLikeAttentionConfig(base),
			attention_bias: base.biases.length > 0,
			attention_dropout: base.raw.attention_dropout ?? 0.0,
			pretraining_tp: 1,
			[KEYS.experts]: numExperts,
			[KEYS.sharedExperts]: sharedExperts > 0 ? sharedExperts : null,
			num_experts_per_tok: expertsPerToken,
			[KEYS.firstDense]: 0,
			[KEYS.layerFreq]: 1,
			scoring_func: "softmax",
			norm_topk_prob: true,
			[KEYS.expertIntermediate]: base.intermediateSize,
			...deepseekTraining(training),
			torch_dtype: dtype,
		};
	},
};

/**
 * DeepSeek's remote code has no output_router_logits: its gate adds the balance loss whenever it trains
 * with aux_loss_alpha > 0. So output_router_logits: false means alpha 0, and the coefficient is alpha.
 */
function deepseekTraining(training: TrainingSettings | undefined): Record<string, unknown> {
	const coef = training?.routerAuxLossCoef ?? ROUTER_AUX_LOSS_COEF;
	return { aux_loss_alpha: training?.outputRouterLogits === false ? 0 : coef, seq_aux: true };
}
