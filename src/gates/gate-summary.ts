/** What a merge reports about its routers: the gate mode and, per layer, how distinct the rows are. */
import type { GateMode } from "../recipe/types.js";
import type { GateLayerStats } from "./gate-stats.js";

export interface GateSummary {
	mode: GateMode;
	/**
	 * Per layer. In JSON, an infinite condition number (linearly dependent rows) and the cosines of a
	 * single-expert layer (NaN) become null.
	 */
	layers: { layer: number; conditionNumber: number; minCosine: number; maxCosine: number }[];
	/** Prompt modes: distinct prompts tokenized and their tokens. */
	distinctPrompts?: number;
	tokens?: number;
	/** Hidden modes: the forward pass's wall time, decoder layers run, and seconds per phase. */
	forward?: { seconds: number; layers: number; phases: Record<string, number> };
}

export function summarizeGates(mode: GateMode, stats: readonly GateLayerStats[], counts: { distinctPrompts?: number; tokens?: number } = {}): GateSummary {
	return {
		mode,
		layers: stats.map(({ layer, conditionNumber, minCosine, maxCosine }) => ({ layer, conditionNumber, minCosine, maxCosine })),
		...(counts.distinctPrompts === undefined ? {} : { distinctPrompts: counts.distinctPrompts, tokens: counts.tokens }),
	};
}
