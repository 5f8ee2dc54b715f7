import type { GgufArchitecture } from "../gguf/architecture.js";
import type { DenseConfig } from "../inputs/dense-config.js";
import type { BiasSite, MlpProjection } from "../inputs/input-families.js";
import type { ArchitectureName, TrainingSettings } from "../recipe/index.js";

export type { TrainingSettings } from "../recipe/index.js";

export type { MlpProjection } from "../inputs/input-families.js";

/** How expert weights are laid out in the output files. */
export type ExpertLayout = "per-expert" | "fused";


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
 * An output MoE architecture described as data: which inputs it accepts (model types, biases, shared
 * experts and their prompts), how each output tensor is named, its defaults, and how its config.json is
 * derived from the base model's. Adding an architecture means adding one of these (and its tests); the
 * plan, merge, recipe and lock code read only this description.
 */
export interface OutputArchitecture {
	name: ArchitectureName;
	/** What the user writes (prefix-matched, case-insensitive) and what messages say. */
	displayName: string;
	/** model_type values of dense inputs this architecture can express. */
	inputModelTypes: readonly string[];
	/** Allowed number of shared experts (N are stacked into one MLP). */
	sharedExperts: { min: number; max: number };
	/** Attention biases of the inputs that are copied (an input with others is refused); `zeros`: written as zeros when the inputs have none. */
	biases: { carried: readonly Exclude<BiasSite, "mlp">[]; zeros?: readonly Exclude<BiasSite, "mlp">[]; whyNot?: string };
	defaults: {
		/** experts_per_token when the recipe does not say, once the architecture is chosen. */
		expertsPerToken(sharedExperts: number): number;
	};
	/** Loading needs transformers' trust_remote_code (the modeling code lives in a Hub repo). */
	remoteCode?: string;
	/** The dense features the output cannot carry apart from biases, checked on every input: a reason, or null. */
	unsupportedInput(config: DenseConfig): string | null;
	/** Routed expert `expert`'s projection in layer `layer`, per-expert layout. */
	expertTensorName(layer: number, expert: number, projection: MlpProjection): string;
	/** Fused layout: stacked [E, 2I, H] gate+up and [E, H, I] down tensors, or undefined when not offered. */
	fusedExpertNames?: (layer: number) => { gateUp: string; down: string };
	routerName(layer: number, layout: ExpertLayout): string;
	/**
	 * Where the shared experts go: their stacked MLP projections, and `gate` [1, H] when a sigmoid gate
	 * scales their output. That gate is built from the shared experts' positive_prompts (so they need
	 * some unless the gates are random); without a gate, prompts on a shared expert mean nothing and are
	 * refused.
	 */
	sharedExpertNames?: { projection(layer: number, projection: MlpProjection): string; gate?(layer: number): string };
	deriveConfig(input: ConfigDerivationInput): Record<string, unknown>;
	/** What llama.cpp expects of it: GGUF names, stacking, hyperparameter keys (src/gguf/architectures/). */
	gguf?: GgufArchitecture;
}

/** Whether a gate built from prompts scales the architecture's shared experts (see sharedExpertNames). */
export function gatesSharedExperts(arch: OutputArchitecture): boolean {
	return arch.sharedExpertNames?.gate !== undefined;
}
