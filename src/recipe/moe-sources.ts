/**
 * Experts taken from an MoE (`expert: N` beside source_model, a moe-merge extension): which of them
 * keep their router row, and the key that tells two experts of one MoE apart.
 */
import { modelKey } from "./model-ref.js";
import type { ExpertSpec } from "./types.js";

/** An expert from an MoE without prompts keeps its router row from that MoE, bit for bit. */
export function keepsRouterRow(expert: ExpertSpec): boolean {
	return expert.expert !== undefined && expert.positivePrompts.length === 0;
}

/** Equal for two experts with the same weights: the same model (modelKey), and the same expert of it. */
export function expertSourceKey(expert: Pick<ExpertSpec, "source" | "expert">): string {
	return expert.expert === undefined ? modelKey(expert.source) : `${modelKey(expert.source)}#expert=${expert.expert}`;
}
