import type { DenseConfig } from "../inputs/dense-config.js";
import type { BiasSite, MlpProjection } from "../inputs/input-families.js";
import type { ArchitectureName } from "../recipe/index.js";

export type { MlpProjection } from "../inputs/input-families.js";

/** How expert weights are laid out in the output files. */
export type ExpertLayout = "per-expert" | "fused";

export interface ConfigDerivationInput {
	base: DenseConfig;
	numExperts: number;
	expertsPerToken: number;
	/** Shared experts in the recipe (0 or 1). */
	sharedExperts: number;
	/** torch dtype name of the output, e.g. "bfloat16". */
	dtype: string;
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
	/**
	 * Allowed number of shared experts, and whether a shared expert needs positive_prompts to build its
	 * gate from (always unless the gates are random).
	 */
	sharedExperts: { min: number; max: number; needPrompts: boolean };
	/** Attention biases of the inputs that are copied (an input with others is refused); `zeros`: written as zeros when the inputs have none. */
	biases: { carried: readonly Exclude<BiasSite, "mlp">[]; zeros?: readonly Exclude<BiasSite, "mlp">[]; whyNot?: string };
	defaults: {
		/** experts_per_token when the recipe does not say, once the architecture is chosen. */
		expertsPerToken(sharedExperts: number): number;
	};
	/** The dense features the output cannot carry apart from biases, checked on every input: a reason, or null. */
	unsupportedInput(config: DenseConfig): string | null;
	/** Routed expert `expert`'s projection in layer `layer`, per-expert layout. */
	expertTensorName(layer: number, expert: number, projection: MlpProjection): string;
	/** Fused layout: stacked [E, 2I, H] gate+up and [E, H, I] down tensors, or undefined when not offered. */
	fusedExpertNames?: (layer: number) => { gateUp: string; down: string };
	routerName(layer: number, layout: ExpertLayout): string;
	/** Where a shared expert goes: its MLP projections and its gate [1, H] (architectures that have one). */
	sharedExpertNames?: { projection(layer: number, projection: MlpProjection): string; gate(layer: number): string };
	deriveConfig(input: ConfigDerivationInput): Record<string, unknown>;
}
