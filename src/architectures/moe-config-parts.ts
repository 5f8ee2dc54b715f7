/** Config pieces more than one output architecture writes the same way. */
import type { DenseConfig } from "../inputs/dense-config.js";
import type { TrainingSettings } from "./output-architecture.js";

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

/** The routed-expert keys Qwen2-MoE and Qwen3-MoE configs share: every layer sparse, top-k weights renormalised. */
export function qwenExpertConfig(base: DenseConfig, numExperts: number, expertsPerToken: number): Record<string, unknown> {
	return {
		num_experts: numExperts,
		num_experts_per_tok: expertsPerToken,
		decoder_sparse_step: 1,
		mlp_only_layers: [],
		norm_topk_prob: true,
		moe_intermediate_size: base.intermediateSize,
	};
}
