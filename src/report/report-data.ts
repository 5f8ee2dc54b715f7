/**
 * report.json: the routing of every prompt through every MoE layer, with the figures derived from it.
 * The `prompts[].text / token_ids / layers[].{layer, router_probs, experts}` shape is a promise to
 * other tools (see docs/report.md); everything else may grow.
 */
import type { PromptRouting } from "../model/moe-forward.js";
import type { ReportPrompt } from "./report-prompts.js";
import { type ExpertPair, expertShares, expertSimilarity, meanSimilarity, routingAgreement, topExpert } from "./routing-stats.js";

export interface NextToken {
	id: number;
	text: string;
	probability: number;
}

export interface PromptReport {
	text: string;
	/** The routed expert the recipe meant this prompt for, or null for extra prompts. */
	expert: number | null;
	token_ids: number[];
	/** Each token's text, as the tokenizer decodes it in context. */
	tokens: string[];
	layers: { layer: number; router_probs: number[][]; experts: number[][] }[];
	/** Per expert, its mean router probability over tokens and MoE layers. */
	expert_share: number[];
	/** Per expert, the fraction of top-k slots it fills over tokens and MoE layers. */
	chosen_share: number[];
	top_expert: number;
	own_expert_wins: boolean | null;
	/** The five most likely next tokens; a broken merge shows here as NaN or garbage. */
	next_tokens: NextToken[];
}

export interface RoutingReport {
	tool: string;
	model: { path: string; model_type: string; experts: number; experts_per_token: number; layers: number; moe_layers: number[] };
	/** Expert names from the recipe when there is one. */
	experts: { index: number; name: string | null }[];
	/** Share of the recipe's prompts whose own expert gets the most routing weight; null without a recipe. */
	routing_agreement: number | null;
	prompts: PromptReport[];
	expert_similarity: { mean: number[][]; layers: { layer: number; matrix: number[][]; closest: ExpertPair[] }[] };
}

export interface ReportInput {
	tool: string;
	modelPath: string;
	modelType: string;
	layers: number;
	experts: number;
	expertsPerToken: number;
	expertNames?: readonly string[];
	prompts: readonly ReportPrompt[];
	routing: readonly PromptRouting[];
	/** Text of token ids (the model's tokenizer). */
	decode: (ids: readonly number[]) => string;
}

/** Router probabilities are float32; 7 decimals keep the file small and are far below the 1e-4 checks. */
const round = (v: number): number => Math.round(v * 1e7) / 1e7;

export function buildReport(input: ReportInput): RoutingReport {
	const E = input.experts;
	const prompts = input.prompts.map((prompt, p): PromptReport => {
		const routing = input.routing[p]!;
		const shares = expertShares(routing.layers, E);
		const top = topExpert(shares.weight);
		return {
			text: prompt.text,
			expert: prompt.expert ?? null,
			token_ids: prompt.tokenIds,
			tokens: tokenTexts(prompt.tokenIds, input.decode),
			layers: routing.layers.map((l) => ({ layer: l.layer, router_probs: l.routerProbs.map((row) => row.map(round)), experts: l.experts })),
			expert_share: shares.weight.map(round),
			chosen_share: shares.chosen.map(round),
			top_expert: top,
			own_expert_wins: prompt.expert === undefined ? null : top === prompt.expert,
			next_tokens: nextTokens(routing.nextTokenLogits, 5, input.decode),
		};
	});
	const similarity = expertSimilarity(input.routing.map((r) => r.layers), E);
	return {
		tool: input.tool,
		model: {
			path: input.modelPath,
			model_type: input.modelType,
			experts: E,
			experts_per_token: input.expertsPerToken,
			layers: input.layers,
			moe_layers: input.routing[0]?.layers.map((l) => l.layer) ?? [],
		},
		experts: Array.from({ length: E }, (_, index) => ({ index, name: input.expertNames?.[index] ?? null })),
		routing_agreement: routingAgreement(prompts.map((p) => ({ expert: p.expert ?? undefined, weight: p.expert_share }))),
		prompts,
		expert_similarity: {
			mean: meanSimilarity(similarity, E).map((row) => row.map(round)),
			layers: similarity.map((s) => ({ layer: s.layer, matrix: s.matrix.map((row) => row.map(round)), closest: s.pairs.slice(0, 3) })),
		},
	};
}

/** Each token's text as the difference of decoding the prefix with and without it (keeps leading spaces). */
function tokenTexts(ids: readonly number[], decode: (ids: readonly number[]) => string): string[] {
	let before = "";
	return ids.map((id, t) => {
		const after = decode(ids.slice(0, t + 1));
		const text = after.startsWith(before) ? after.slice(before.length) : decode([id]);
		before = after;
		return text;
	});
}

/** The k most likely next tokens (softmax in f64); non-finite logits give NaN probabilities. */
export function nextTokens(logits: Float32Array, k: number, decode: (ids: readonly number[]) => string): NextToken[] {
	let max = -Infinity;
	for (const v of logits) if (v > max) max = v;
	let sum = 0;
	for (const v of logits) sum += Math.exp(v - max);
	const ids = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, k);
	return ids.map((id) => ({ id, text: decode([id]), probability: round(Math.exp(logits[id]! - max) / sum) }));
}
