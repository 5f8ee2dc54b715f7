/**
 * One expert's gate row per layer from per-prompt vectors (mergekit-moe's get_gate_params):
 * - hidden modes: mean over the positive prompts' vectors, minus the mean over the negative ones (if
 *   any), L2-normalised.
 * - cheap_embed: the normalised token-embedding sum of the positive prompts, minus the same for the
 *   negative ones (if any), normalised again; the same row for every layer.
 */
import { GATE_MODES, type HiddenGateMode } from "../recipe/gate-modes.js";
import type { PromptStates } from "./prompt-states.js";
import { meanOf, minus, normalized } from "./vector-math.js";

/** Which summary of each layer's input a hidden mode reads, so the forward pass computes no other. */
export function stateSummaryOf(mode: HiddenGateMode): "last" | "mean" {
	return GATE_MODES[mode].vector;
}

/** The per-prompt, per-layer vector a hidden mode uses. */
export function promptVectors(states: PromptStates, mode: HiddenGateMode): Float32Array[] {
	// hidden_avg averages real tokens only: mergekit also averages the left padding of its batch,
	// which pulls rows of experts with prompts of different lengths towards the padding's states.
	const vectors = stateSummaryOf(mode) === "mean" ? states.mean : states.last;
	if (vectors.length === 0) throw new Error(`gate_mode ${mode} needs the ${stateSummaryOf(mode)} states, which the forward pass did not keep`);
	return vectors;
}

/** Rows [L] of H for one expert, from per-prompt vectors [prompt][layer] of H. */
export function hiddenGateRows(positive: readonly Float32Array[][], negative: readonly Float32Array[][], numLayers: number, hiddenSize: number): Float32Array[] {
	if (positive.length === 0) throw new Error("a gate row needs at least one positive prompt");
	return Array.from({ length: numLayers }, (_, layer) => {
		const pos = meanOf(positive.map((p) => p[layer]), hiddenSize);
		const neg = negative.length > 0 ? meanOf(negative.map((p) => p[layer]), hiddenSize) : undefined;
		return Float32Array.from(normalized(minus(pos, neg)));
	});
}

/** The cheap_embed row from the embedding sums of all positive / negative tokens. */
export function cheapEmbedRow(positiveSum: Float64Array, negativeSum: Float64Array | undefined): Float32Array {
	const pos = normalized(positiveSum);
	return Float32Array.from(negativeSum ? normalized(minus(pos, normalized(negativeSum))) : pos);
}
