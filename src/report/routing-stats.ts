/**
 * Figures derived from the router probabilities: how much of a prompt goes to each expert, whether its
 * own expert wins, the merge's routing agreement, and how alike experts are routed.
 */
import type { PromptLayerRouting } from "../model/moe-forward.js";

export interface ExpertShares {
	/** Per expert, its mean router probability over the prompt's tokens and the MoE layers (sums to 1). */
	weight: number[];
	/** Per expert, the fraction of (token, layer) top-k slots it fills (sums to 1). */
	chosen: number[];
}

export function expertShares(layers: readonly PromptLayerRouting[], experts: number): ExpertShares {
	const weight = new Array<number>(experts).fill(0);
	const chosen = new Array<number>(experts).fill(0);
	let rows = 0;
	let slots = 0;
	for (const layer of layers) {
		layer.routerProbs.forEach((probs, t) => {
			probs.forEach((p, e) => (weight[e] += p));
			for (const e of layer.experts[t]!) chosen[e]++;
			rows++;
			slots += layer.experts[t]!.length;
		});
	}
	return { weight: weight.map((w) => w / Math.max(rows, 1)), chosen: chosen.map((c) => c / Math.max(slots, 1)) };
}

/** The expert with the largest share (the lower id on a tie). */
export function topExpert(shares: readonly number[]): number {
	return shares.reduce((best, v, e) => (v > shares[best]! ? e : best), 0);
}

/** The share of prompts with an own expert whose own expert gets the most routing weight; null if none has one. */
export function routingAgreement(prompts: readonly { expert?: number; weight: readonly number[] }[]): number | null {
	const judged = prompts.filter((p) => p.expert !== undefined);
	if (judged.length === 0) return null;
	return judged.filter((p) => topExpert(p.weight) === p.expert).length / judged.length;
}

export interface ExpertPair {
	a: number;
	b: number;
	similarity: number;
}

export interface LayerSimilarity {
	layer: number;
	/** [E][E] cosine similarity of the experts' router probabilities over every token of every prompt. */
	matrix: number[][];
	/** Every pair a < b, most similar first. */
	pairs: ExpertPair[];
}

/**
 * Per MoE layer, how alike two experts are routed: the cosine between their columns of router
 * probabilities over all tokens of all prompts. 1 means the router cannot tell them apart on these prompts.
 */
export function expertSimilarity(prompts: readonly (readonly PromptLayerRouting[])[], experts: number): LayerSimilarity[] {
	const first = prompts[0] ?? [];
	return first.map((_, i) => {
		const dot = Array.from({ length: experts }, () => new Array<number>(experts).fill(0));
		for (const layers of prompts) {
			for (const probs of layers[i]!.routerProbs) {
				for (let a = 0; a < experts; a++) for (let b = 0; b < experts; b++) dot[a]![b] += probs[a]! * probs[b]!;
			}
		}
		const matrix = dot.map((row, a) => row.map((v, b) => v / Math.sqrt(dot[a]![a]! * dot[b]![b]!) || 0));
		const pairs: ExpertPair[] = [];
		for (let a = 0; a < experts; a++) for (let b = a + 1; b < experts; b++) pairs.push({ a, b, similarity: matrix[a]![b]! });
		pairs.sort((x, y) => y.similarity - x.similarity);
		return { layer: first[i]!.layer, matrix, pairs };
	});
}

/** The element-wise mean of the layers' matrices. */
export function meanSimilarity(layers: readonly LayerSimilarity[], experts: number): number[][] {
	return Array.from({ length: experts }, (_, a) =>
		Array.from({ length: experts }, (_, b) => layers.reduce((s, l) => s + l.matrix[a]![b]!, 0) / Math.max(layers.length, 1)),
	);
}
