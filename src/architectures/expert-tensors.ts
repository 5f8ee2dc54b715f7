/**
 * Where a routed expert's projection lives in either expert layout, for readers that go from a
 * (layer, expert, projection) to bytes: the MoE forward pass, LoRA targets, GGUF tensor maps.
 * transformers 5's fused layout stacks every expert: gate_up_proj [E, 2I, H] holds expert e's gate_proj
 * rows then its up_proj rows, down_proj [E, H, I] its down_proj.
 */
import type { ExpertLayout, MlpProjection, OutputArchitecture } from "./output-architecture.js";

export interface ExpertTensorLocation {
	/** The tensor holding it. */
	name: string;
	/** Fused layout only: the rows of slab `expert` of the [E, rows, cols] stack that are this projection. */
	fused?: { expert: number; firstRow: number; rows: number };
}

/** The projections of one gated MLP in product order. */
export const MLP_PROJECTIONS: readonly MlpProjection[] = ["gate_proj", "up_proj", "down_proj"];

/**
 * Expert `expert`'s `projection` in layer `layer`; `sizes` are the expert's intermediate size and the
 * hidden size (the fused slab's row counts). Throws when the architecture has no fused layout.
 */
export function expertTensor(
	arch: OutputArchitecture,
	layout: ExpertLayout,
	layer: number,
	expert: number,
	projection: MlpProjection,
	sizes: { intermediate: number; hidden: number },
): ExpertTensorLocation {
	if (layout === "per-expert") return { name: arch.expertTensorName(layer, expert, projection) };
	const fused = arch.fusedExpertNames?.(layer);
	if (!fused) throw new Error(`${arch.displayName} has no fused expert layout`);
	const I = sizes.intermediate;
	if (projection === "down_proj") return { name: fused.down, fused: { expert, firstRow: 0, rows: sizes.hidden } };
	return { name: fused.gateUp, fused: { expert, firstRow: projection === "gate_proj" ? 0 : I, rows: I } };
}
