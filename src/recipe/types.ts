/** The parsed, validated form of a recipe (mergekit-moe's YAML format plus our extensions). */

import type { ArchitectureName, TrainingSettings } from "../architectures/output-architecture.js";
import type { GateMode } from "./gate-modes.js";

export type { GateMode } from "./gate-modes.js";
/** ArchitectureName: an output architecture's schema name (src/architectures/registry.ts holds them all). */
export type { ArchitectureName, TrainingSettings } from "../architectures/output-architecture.js";

/** Plain text, or a conversation rendered later with the base model's chat template. */
export type Prompt = string | { messages: { role: string; content: string }[] };

export type ModelRef =
	| { kind: "local"; /** absolute, resolved against the recipe file's folder */ path: string; /** as written */ text: string }
	| { kind: "hub"; /** org/name */ repo: string; revision?: string; text: string }
	/** A peft LoRA adapter (a local folder or Hub repo: `lora`) applied to a model (`base`). */
	| { kind: "lora"; base: ModelRef; lora: ModelRef; text: string };

export interface SourceLoc {
	file: string;
	/** 1-based */
	line: number;
	/** 1-based */
	column: number;
}

export interface ExpertSpec {
	source: ModelRef;
	/** `expert: N`: the source is an MoE and this is its routed expert N (read as a dense model). */
	expert?: number;
	/** Where `expert:` was written, for errors about the index. */
	expertLoc?: SourceLoc;
	positivePrompts: Prompt[];
	negativePrompts: Prompt[];
	noiseScale?: number;
	residualScale?: number;
	/** Position of the expert in the YAML, for later errors. */
	loc: SourceLoc;
}

export interface Recipe {
	file: string;
	/** Raw YAML text, saved beside the output. */
	text: string;
	baseModel: ModelRef;
	baseModelLoc: SourceLoc;
	experts: ExpertSpec[];
	sharedExperts: ExpertSpec[];
	gateMode: GateMode;
	/** undefined = the base model's torch_dtype. */
	dtype?: "float32" | "float16" | "bfloat16";
	/**
	 * As written, else mergekit's default 2 (what the recipe rules check). The merge uses
	 * ResolvedRecipe.expertsPerToken: when not written, the chosen output architecture's default.
	 */
	expertsPerToken: number;
	expertsPerTokenWritten: boolean;
	/**
	 * The first architecture the recipe's `architecture:` prefix matches (mergekit's order);
	 * undefined = choose automatically later.
	 */
	architecture?: ArchitectureName;
	/**
	 * Every architecture the recipe allows, in the registry's order (mergekit's: Mixtral, DeepSeek MoE,
	 * Qwen MoE, Qwen3 MoE, then any registered): all when `architecture:` is absent, else the prefix matches. A prefix can
	 * match several (`qwen` = Qwen MoE and Qwen3 MoE); mergekit then takes the first that supports
	 * the input models, so later code should do the same rather than trust `architecture` alone.
	 */
	architectureCandidates: ArchitectureName[];
	/** Where `architecture:` was written, for errors about it later. */
	architectureLoc?: SourceLoc;
	/** `output_router_logits` / `router_aux_loss_coef` (moe-merge extensions). */
	training: TrainingSettings;
}

export interface ParseRecipeOptions {
	/** Accept experts that are all the same model (mergekit's --i-understand-this-is-not-useful-without-training). */
	allowSameModelExperts?: boolean;
}
