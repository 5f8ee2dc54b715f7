import { DEEPSEEK_GGUF } from "../gguf/architectures/deepseek.js";
import type { MlpProjection, OutputArchitecture, TrainingSettings } from "./output-architecture.js";
import { llamaLikeAttentionConfig } from "./llama-like-config.js";
import { ROUTER_AUX_LOSS_COEF } from "./moe-config-parts.js";

const layerName = (layer: number, rest: string) => `model.layers.${layer}.${rest}`;
const REMOTE_CODE = "deepseek-ai/deepseek-moe-16b-base";

/**
 * DeepSeek-MoE v1 (`DeepseekForCausalLM`, the remote code of deepseek-moe-16b, as mergekit-moe writes
 * it): Llama attention, routed experts with softmax scores, and ungated shared experts whose outputs are
 * simply added (N of them are one MLP of N × moe_intermediate_size, which is how that code builds them).
 */
export const deepseekMoe: OutputArchitecture = {
	name: "deepseek_moe",
	displayName: "DeepSeek MoE",
	inputModelTypes: ["llama", "mistral"],
	sharedExperts: { min: 0, max: Number.POSITIVE_INFINITY },
	// Its attention is Llama's: `attention_bias` gives q/k/v/o biases.
	biases: { carried: ["q_proj", "k_proj", "v_proj", "o_proj"] },
	// mergekit-moe's code reads `experts_per_token or (1 if shared_experts else 2)`, but its recipe default is 2, so it writes 2.
	defaults: { expertsPerToken: () => 2 },
	remoteCode: REMOTE_CODE,
	unsupportedInput(config) {
		if (config.hiddenAct !== "silu") return `its MLP activation is ${config.hiddenAct}; DeepSeek MoE experts use silu`;
		if (config.layerSlidingWindows.some((w) => w !== null)) return "its attention has a sliding window, which DeepSeek MoE's attention has not";
		return null;
	},
	expertTensorName: (layer, expert, projection) => layerName(layer, `mlp.experts.${expert}.${projection}.weight`),
	routerName: (layer) => layerName(layer, "mlp.gate.weight"),
	sharedExpertNames: { projection: (layer: number, projection: MlpProjection) => layerName(layer, `mlp.shared_experts.${projection}.weight`) },
	gguf: DEEPSEEK_GGUF,
	deriveConfig({ base, numExperts, expertsPerToken, sharedExperts, dtype, training }) {
		return {
			architectures: ["DeepseekForCausalLM"],
			model_type: "deepseek",
			auto_map: {
				AutoConfig: `${REMOTE_CODE}--configuration_deepseek.DeepseekConfig`,
				AutoModel: `${REMOTE_CODE}--modeling_deepseek.DeepseekModel`,
				AutoModelForCausalLM: `${REMOTE_CODE}--modeling_deepseek.DeepseekForCausalLM`,
			},
			...llamaLikeAttentionConfig(base),
			attention_bias: base.biases.length > 0,
			attention_dropout: base.raw.attention_dropout ?? 0.0,
			pretraining_tp: 1,
			n_routed_experts: numExperts,
			n_shared_experts: sharedExperts > 0 ? sharedExperts : null,
			num_experts_per_tok: expertsPerToken,
			first_k_dense_replace: 0,
			moe_layer_freq: 1,
			scoring_func: "softmax",
			norm_topk_prob: true,
			moe_intermediate_size: base.intermediateSize,
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
