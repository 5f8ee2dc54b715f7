/** The recipe data exactly as the schema allows it (snake_case, nulls), before conversion. */
import type { GateMode } from "./types.js";
import type { RawPrompt } from "./prompts.js";

export type RawModelPath = string | { path: string; revision?: string | null };

/** A string, or mergekit's long form `{model, lora, override_architecture}`. */
export type RawModelRef = string | { model: RawModelPath; lora?: RawModelPath | null; override_architecture?: string | null };

export interface RawExpert {
	source_model: RawModelRef;
	/** moe-merge extension: routed expert N of an MoE source_model. */
	expert?: number | null;
	positive_prompts?: RawPrompt[] | null;
	negative_prompts?: RawPrompt[] | null;
	noise_scale?: number | null;
	residual_scale?: number | null;
}

export interface RawRecipe {
	base_model: RawModelRef;
	experts: RawExpert[];
	gate_mode?: GateMode | null;
	dtype?: string | null;
	experts_per_token?: number | null;
	shared_experts?: RawExpert[] | null;
	architecture?: string | null;
	output_router_logits?: boolean | null;
	router_aux_loss_coef?: number | null;
}
