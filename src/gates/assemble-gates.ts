/**
 * From per-expert rows to what the merge writes: one [E*H] router matrix per layer, the shared-expert
 * gate [H] per layer (Qwen2-MoE), and per-layer stats and warnings about degenerate routing.
 */
import { degenerateGateWarnings } from "./degenerate-warnings.js";
import { type GateLayerStats, gateLayerStats } from "./gate-stats.js";
import type { HiddenGateMode, PromptGateMode } from "../recipe/gate-modes.js";
import type { PromptStates } from "./prompt-states.js";
import { cheapEmbedRow, hiddenGateRows, promptVectors } from "./gate-rows.js";

export interface PromptGates {
	mode: PromptGateMode;
	/** Per layer, [E, H] row-major: row e = routed expert e in recipe order. */
	routers: Float32Array[];
	/** Per layer, [H]: the shared expert's gate row (only when a shared expert was given). */
	sharedGates?: Float32Array[];
	/** Per layer, about `routers` only (the shared gate is a single row). */
	stats: GateLayerStats[];
	warnings: string[];
}

export interface ExpertStates {
	positive: readonly PromptStates[];
	negative: readonly PromptStates[];
}

export interface ExpertEmbeddingSums {
	positive: Float64Array;
	/** Absent when the expert has no negative prompts. */
	negative?: Float64Array;
}

export interface GateShape {
	numLayers: number;
	hiddenSize: number;
	/** Used in warnings, e.g. the source model of each expert. */
	expertLabels?: readonly string[];
}

/** hidden / hidden_last / hidden_avg rows from the forward pass's states of each prompt. */
export function gatesFromStates(mode: HiddenGateMode, experts: readonly ExpertStates[], shared: ExpertStates | undefined, shape: GateShape): PromptGates {
	const rowsOf = (e: ExpertStates) => {
		const vectors = (list: readonly PromptStates[]) => list.map((s) => checkedVectors(promptVectors(s, mode), shape));
		return hiddenGateRows(vectors(e.positive), vectors(e.negative), shape.numLayers, shape.hiddenSize);
	};
	return assembleGates(mode, experts.map(rowsOf), shared && rowsOf(shared), shape);
}

/** cheap_embed rows (the same in every layer) from the embedding sums of each expert's tokens. */
export function gatesFromEmbeddingSums(experts: readonly ExpertEmbeddingSums[], shared: ExpertEmbeddingSums | undefined, shape: GateShape): PromptGates {
	const rowsOf = (e: ExpertEmbeddingSums) => new Array<Float32Array>(shape.numLayers).fill(cheapEmbedRow(e.positive, e.negative));
	return assembleGates("cheap_embed", experts.map(rowsOf), shared && rowsOf(shared), shape);
}

/** `expertRows[e][layer]` of H → per-layer matrices, stats and warnings. */
export function assembleGates(mode: PromptGateMode, expertRows: readonly Float32Array[][], sharedRows: readonly Float32Array[] | undefined, shape: GateShape): PromptGates {
	const { numLayers, hiddenSize: H } = shape;
	const E = expertRows.length;
	const routers = Array.from({ length: numLayers }, (_, layer) => {
		const matrix = new Float32Array(E * H);
		expertRows.forEach((rows, e) => matrix.set(rows[layer], e * H));
		return matrix;
	});
	return {
		mode,
		routers,
		sharedGates: sharedRows && Array.from({ length: numLayers }, (_, layer) => Float32Array.from(sharedRows[layer])),
		...routerStats(routers, E, H, shape.expertLabels),
	};
}

/**
 * Per-layer stats of any router matrices (random ones too) and the degenerate-gate warnings. Like
 * mergekit's, but about the routed experts only: mergekit also puts the shared expert's row in the
 * matrix, though that gate is a separate sigmoid that does not compete with the experts.
 */
export function routerStats(routers: readonly Float32Array[], numExperts: number, hiddenSize: number, expertLabels?: readonly string[]): { stats: GateLayerStats[]; warnings: string[] } {
	const stats = routers.map((matrix, layer) => gateLayerStats(layer, matrix, numExperts, hiddenSize));
	return { stats, warnings: degenerateGateWarnings(stats, expertLabels) };
}

/** The forward pass must give one H-vector per layer; anything else is a bug, not a user error. */
function checkedVectors(vectors: Float32Array[], shape: GateShape): Float32Array[] {
	if (vectors.length !== shape.numLayers || vectors.some((v) => v.length !== shape.hiddenSize)) {
		throw new Error(`prompt states have ${vectors.length} layers of [${vectors.map((v) => v.length).join(", ")}], expected ${shape.numLayers} of ${shape.hiddenSize}`);
	}
	return vectors;
}
