/** Names and config pieces more than one output architecture writes (and reads back) the same way. */
import type { DenseConfig } from "../inputs/dense-config.js";
import { LLAMA_LIKE_NAMES, layerName } from "../inputs/input-families.js";
import type { ConfigReading, MlpProjection, OutputArchitecture, RouterRule, TrainingSettings } from "./output-architecture.js";

/** transformers 5's stacked experts, named alike in Mixtral, Qwen2-MoE and Qwen3-MoE. */
export const FUSED_EXPERT_NAMES = (layer: number) => ({
	gateUp: layerName(layer, "mlp.experts.gate_up_proj"),
	down: layerName(layer, "mlp.experts.down_proj"),
});

/** A dense layer's MLP, named as in the dense inputs. */
export const denseMlpName = (layer: number, projection: MlpProjection): string => LLAMA_LIKE_NAMES.mlp(layer, projection);

/** Per-expert MLPs and the router under `mlp.`, as Qwen2-MoE, Qwen3-MoE and DeepSeek-MoE name them. */
export const expertUnderMlp = (layer: number, expert: number, projection: MlpProjection): string => layerName(layer, `mlp.experts.${expert}.${projection}.weight`);
export const routerUnderMlp = (layer: number): string => layerName(layer, "mlp.gate.weight");

/** transformers' defaults for every MoE config we write (and what mergekit-moe leaves in place). */
export const ROUTER_AUX_LOSS_COEF = 0.001;

/** `output_router_logits` / `router_aux_loss_coef`, as Mixtral, Qwen2-MoE and Qwen3-MoE configs name them. */
export function routerTrainingConfig(training: TrainingSettings | undefined): Record<string, unknown> {
	return {
		output_router_logits: training?.outputRouterLogits ?? false,
		router_aux_loss_coef: training?.routerAuxLossCoef ?? ROUTER_AUX_LOSS_COEF,
	};
}

/**
 * The base's attention window in Qwen's spelling (`use_sliding_window`, `sliding_window`,
 * `max_window_layers` 0), also spelled out as transformers 5's `layer_types`. mergekit-moe drops the
 * window, which changes outputs beyond it; we keep it.
 */
export function qwenWindowConfig(base: DenseConfig): Record<string, unknown> {
	const windows = base.layerSlidingWindows;
	const window = windows.find((w) => w !== null);
	if (window === undefined) return { use_sliding_window: false, sliding_window: null, max_window_layers: base.numLayers };
	return { use_sliding_window: true, sliding_window: window, max_window_layers: 0, layer_types: windows.map(() => "sliding_attention") };
}

/**
 * Why Qwen MoE configs cannot express the base's windows, or null: transformers 4.57's Qwen MoE models
 * apply `sliding_window` to every layer (eager and sdpa attention), so a window on some layers only
 * would compute differently there than in transformers 5.
 */
export function qwenWindowProblem(base: DenseConfig): string | null {
	const windows = base.layerSlidingWindows;
	const window = windows.find((w) => w !== null);
	if (window === undefined || windows.every((w) => w === window)) return null;
	const count = windows.filter((w) => w !== null).length;
	return `its attention window (${window}) covers ${count} of ${windows.length} layers; Qwen MoE models in transformers 4.57 apply a window to every layer or none`;
}

const QWEN_EXPERTS = "num_experts";
const QWEN_EXPERT_INTERMEDIATE = "moe_intermediate_size";

/** The routed-expert keys Qwen2-MoE and Qwen3-MoE configs share: every layer sparse, top-k weights renormalised. */
export function qwenExpertConfig(base: DenseConfig, numExperts: number, expertsPerToken: number): Record<string, unknown> {
	return {
		[QWEN_EXPERTS]: numExperts,
		num_experts_per_tok: expertsPerToken,
		decoder_sparse_step: 1,
		mlp_only_layers: [],
		norm_topk_prob: true,
		[QWEN_EXPERT_INTERMEDIATE]: base.intermediateSize,
	};
}

/**
 * Reading those keys back: transformers 5 names the expert count num_local_experts; a layer is sparse
 * unless listed in mlp_only_layers or off the decoder_sparse_step grid.
 */
const QWEN_CONFIG_READING: ConfigReading = {
	experts: [QWEN_EXPERTS, "num_local_experts"],
	expertIntermediate: QWEN_EXPERT_INTERMEDIATE,
	sparseLayer: (config, layer) => {
		const only = Array.isArray(config.mlp_only_layers) ? (config.mlp_only_layers as unknown[]) : [];
		const step = typeof config.decoder_sparse_step === "number" ? config.decoder_sparse_step : 1;
		return !only.includes(layer) && step > 0 && (layer + 1) % step === 0;
	},
};

/** Qwen MoE routers: softmax, top k renormalised only when norm_topk_prob (transformers' default false). */
const QWEN_ROUTER: RouterRule = { scoring: "softmax", normTopK: (config) => config.norm_topk_prob === true };

/** What Qwen2-MoE and Qwen3-MoE describe alike: tensor names in both layouts, router rule, config reading. */
export const QWEN_MOE_PARTS = {
	expertTensorName: expertUnderMlp,
	fusedExpertNames: FUSED_EXPERT_NAMES,
	routerName: routerUnderMlp,
	denseMlpName,
	router: QWEN_ROUTER,
	config: QWEN_CONFIG_READING,
} satisfies Partial<OutputArchitecture>;
