import type { DenseConfig } from "../inputs/dense-config.js";
import type { ArchitectureName } from "../recipe/index.js";

/** How expert weights are laid out in the output files. */
export type ExpertLayout = "per-expert" | "fused";

/** The three projections of a dense SiLU-gated MLP, named as Llama/Mistral/Qwen name them. */
export type MlpProjection = "gate_proj" | "up_proj" | "down_proj";

export interface ConfigDerivationInput {
	base: DenseConfig;
	numExperts: number;
	expertsPerToken: number;
	/** torch dtype name of the output, e.g. "bfloat16". */
	dtype: string;
}

/**
 * An output MoE architecture described as data: which input model types it accepts, how each
 * output tensor is named, and how its config.json is derived from the base model's. Adding an
 * architecture means adding one of these, not a class with copied merge code.
 */
export interface OutputArchitecture {
	name: ArchitectureName;
	/** What the user writes (prefix-matched, case-insensitive) and what messages say. */
	displayName: string;
	/** model_type values of dense inputs this architecture can express. */
	inputModelTypes: readonly string[];
	/** Allowed number of shared experts. */
	sharedExperts: { min: number; max: number };
	/** The dense features the output cannot carry, checked on every input: a reason, or null. */
	unsupportedInput(config: DenseConfig): string | null;
	/** Routed expert `expert`'s projection in layer `layer`, per-expert layout. */
	expertTensorName(layer: number, expert: number, projection: MlpProjection): string;
	/** Fused layout: stacked [E, 2I, H] gate+up and [E, H, I] down tensors, or undefined when not offered. */
	fusedExpertNames?: (layer: number) => { gateUp: string; down: string };
	routerName(layer: number, layout: ExpertLayout): string;
	deriveConfig(input: ConfigDerivationInput): Record<string, unknown>;
	/** Tensors of a dense Llama-like layer that are not MLP weights and are copied from the base unchanged. */
	isDenseMlpTensor(name: string): boolean;
}
