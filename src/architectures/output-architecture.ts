import type { GgufArchitecture } from "../gguf/architecture.js";
import type { DenseConfig } from "../inputs/dense-config.js";
import type { BiasSite, MlpProjection } from "../inputs/input-families.js";

export type { MlpProjection } from "../inputs/input-families.js";

/** An output architecture's schema name: what a recipe's `architecture:` names exactly (see registry.ts). */
export type ArchitectureName = string;

/** How expert weights are laid out in the output files. */
export type ExpertLayout = "per-expert" | "fused";

/** mergekit-moe's experts_per_token default, which every architecture keeps unless its description says otherwise. */
export const DEFAULT_EXPERTS_PER_TOKEN = 2;

/** Router settings a fine-tuner needs, written to config.json (undefined = the architecture's default). */
export interface TrainingSettings {
	/** Return router logits from forward() so the load-balancing loss is added while training. */
	outputRouterLogits?: boolean;
	/** Weight of the load-balancing (auxiliary) loss. */
	routerAuxLossCoef?: number;
}

export interface ConfigDerivationInput {
	base: DenseConfig;
	numExperts: number;
	expertsPerToken: number;
	/** Shared experts in the recipe; N of them are written as one MLP of N × the dense intermediate size. */
	sharedExperts: number;
	/** torch dtype name of the output, e.g. "bfloat16". */
	dtype: string;
	training?: TrainingSettings;
}

/**
 * The dense family whose attention, norms, rope and biases the MoE keeps (src/inputs/input-families.ts):
 * its config keys are read as that family's, and the dense forward pass runs its attention half.
 */
export type AttentionFamily = "llama" | "mistral" | "qwen2" | "qwen3";

/** How a layer's router logits become each token's experts and their weights (model/moe-block.ts runs it). */
export interface RouterRule {
	/** Logits -> probabilities: "softmax" over all experts in float32, then the top k (every architecture so far). */
	scoring: "softmax";
	/** Whether the top-k probabilities are renormalised to sum 1, as the config says. */
	normTopK(config: Record<string, unknown>): boolean;
}

/** How a config.json of the architecture is read back (verify, report and every later reader). */
export interface ConfigReading {
	/** Keys of the routed expert count, in order of preference (transformers 5 renamed some). */
	experts: readonly string[];
	/** Key of each routed expert's intermediate size. */
	expertIntermediate: string;
	/** The shared experts' stacked intermediate size (0 or absent: none in this checkpoint). */
	sharedIntermediate?(config: Record<string, unknown>): unknown;
	/** Whether decoder layer `layer` has a routed MoE block (else a dense MLP). */
	sparseLayer(config: Record<string, unknown>, layer: number): boolean;
}

/**
 * An output MoE architecture described as data: which inputs it accepts (model types, biases, shared
 * experts and their prompts), how each output tensor is named in both expert layouts, its defaults, how
 * its config.json is derived from the base model's and read back, and how its router routes. The plan,
 * merge, recipe, lock, verify and the MoE forward pass read only this description, looked up in
 * registry.ts by schema name or config.json model_type.
 */
export interface OutputArchitecture {
	/** Schema name: the exact `architecture:` value recipes may write (mergekit's are prefixes of displayName). */
	name: ArchitectureName;
	/** What the user writes (prefix-matched, case-insensitive) and what messages say. */
	displayName: string;
	/** config.json's model_type: what deriveConfig writes and what readers look the description up by. */
	modelType: string;
	/** The dense family whose attention the output keeps. */
	attention: AttentionFamily;
	/** model_type values of dense inputs this architecture can express. */
	inputModelTypes: readonly string[];
	/** Allowed number of shared experts (N are stacked into one MLP). */
	sharedExperts: { min: number; max: number };
	/** Attention biases of the inputs that are copied (an input with others is refused); `zeros`: written as zeros when the inputs have none. */
	biases: { carried: readonly Exclude<BiasSite, "mlp">[]; zeros?: readonly Exclude<BiasSite, "mlp">[]; whyNot?: string };
	/** experts_per_token when the recipe does not say, once the architecture is chosen; absent: DEFAULT_EXPERTS_PER_TOKEN. */
	defaults?: { expertsPerToken(sharedExperts: number): number };
	/** Loading needs transformers' trust_remote_code (the modeling code lives in a Hub repo). */
	remoteCode?: string;
	/** The dense features the output cannot carry apart from biases and the MLP activation, checked on every input: a reason, or null. */
	unsupportedInput?(config: DenseConfig): string | null;
	/** Routed expert `expert`'s projection in layer `layer`, per-expert layout. */
	expertTensorName(layer: number, expert: number, projection: MlpProjection): string;
	/** Fused layout: stacked [E, 2I, H] gate+up and [E, H, I] down tensors, or undefined when not offered (see expert-tensors.ts). */
	fusedExpertNames?: (layer: number) => { gateUp: string; down: string };
	routerName(layer: number, layout: ExpertLayout): string;
	/**
	 * Where the shared experts go: their stacked MLP projections, and `gate` [1, H] when a sigmoid gate
	 * scales their output. That gate is built from the shared experts' positive_prompts (so they need
	 * some unless the gates are random); without a gate, prompts on a shared expert mean nothing and are
	 * refused.
	 */
	sharedExpertNames?: { projection(layer: number, projection: MlpProjection): string; gate?(layer: number): string };
	/** A dense MLP's projection, in the layers `config.sparseLayer` says are not sparse. */
	denseMlpName(layer: number, projection: MlpProjection): string;
	router: RouterRule;
	config: ConfigReading;
	deriveConfig(input: ConfigDerivationInput): Record<string, unknown>;
	/** What llama.cpp expects of it: GGUF names, stacking, hyperparameter keys (src/gguf/architectures/). */
	gguf?: GgufArchitecture;
}

/** Whether a gate built from prompts scales the architecture's shared experts (see sharedExpertNames). */
export function gatesSharedExperts(arch: OutputArchitecture): boolean {
	return arch.sharedExpertNames?.gate !== undefined;
}

/** experts_per_token when the recipe does not say. */
export function defaultExpertsPerToken(arch: OutputArchitecture, sharedExperts: number): number {
	return arch.defaults?.expertsPerToken(sharedExperts) ?? DEFAULT_EXPERTS_PER_TOKEN;
}
