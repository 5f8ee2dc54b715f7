/**
 * Prompt-based router weights, end to end: tokenize every prompt of every expert once (deduplicated),
 * then either read the few embedding rows they use (cheap_embed) or run the base model once over all
 * distinct prompts (hidden modes), and assemble the rows.
 *
 * Differences from mergekit-moe, on purpose: hidden states come from a float32 forward pass (mergekit
 * loads the model in bfloat16); each prompt runs alone, unpadded, so hidden_avg averages real tokens
 * only (mergekit's mean includes the left padding of its batch).
 */
import { MoeMergeError } from "../errors.js";
import type { Prompt } from "../recipe/types.js";
import { ModelWeights } from "../safetensors/index.js";
import { GateTokenizer } from "../tokenize/index.js";
import { type GateShape, type PromptGates, gatesFromEmbeddingSums, gatesFromStates } from "./assemble-gates.js";
import { embeddingSums } from "./embedding-sums.js";
import { type PromptGateMode, readsHiddenStates } from "../recipe/gate-modes.js";
import type { ComputePromptStates, PromptStates } from "./prompt-states.js";

export interface GatePrompts {
	positive: readonly Prompt[];
	negative: readonly Prompt[];
}

export interface BuildGatesOptions extends GateShape {
	mode: PromptGateMode;
	/** The base model's folder: its tokenizer (and, for cheap_embed without `baseWeights`, its weights). */
	baseModelDir: string;
	/** Routed experts in recipe order. */
	experts: readonly GatePrompts[];
	/** Qwen2-MoE's shared expert: its gate row comes from its prompts in the same way. */
	sharedExpert?: GatePrompts;
	/** Open weights of the base model (cheap_embed); opened and closed here when absent. */
	baseWeights?: ModelWeights;
	/** The forward pass, needed by the hidden modes. */
	computeStates?: ComputePromptStates;
	tokenizer?: GateTokenizer;
}

export interface BuiltGates extends PromptGates {
	/** Distinct prompts tokenized, and the tokens of those (what a forward pass would run). */
	distinctPrompts: number;
	tokens: number;
}

interface TokenizedSide {
	positive: number[][];
	negative: number[][];
}

/** The prompts of every expert tokenized, and, for the hidden modes, the distinct id lists to run. */
export interface TokenizedGatePrompts {
	sets: TokenizedSide[];
	/** Distinct id lists (hidden modes) and, per set, the index of each prompt's list. */
	lists: number[][];
	indices: { positive: number[]; negative: number[] }[];
	distinctPrompts: number;
	tokens: number;
}

/**
 * Tokenizes every prompt once (deduplicated) and checks what the forward pass would refuse (no tokens,
 * ids beyond `vocabSize`), so that a merge fails on those before it writes anything.
 */
export async function tokenizeGatePrompts(options: BuildGatesOptions & { vocabSize?: number }): Promise<TokenizedGatePrompts> {
	const tokenizer = options.tokenizer ?? (await GateTokenizer.load(options.baseModelDir));
	const sets = [...options.experts, ...(options.sharedExpert ? [options.sharedExpert] : [])];
	const distinct = new Map<string, number[]>();
	const encode = (p: Prompt): number[] => {
		const key = JSON.stringify(p);
		let ids = distinct.get(key);
		if (!ids) distinct.set(key, (ids = tokenizer.encode(p)));
		return ids;
	};
	const tokenized: TokenizedSide[] = sets.map((s) => ({ positive: s.positive.map(encode), negative: s.negative.map(encode) }));
	const counts = { distinctPrompts: distinct.size, tokens: [...distinct.values()].reduce((n, ids) => n + ids.length, 0) };
	if (!readsHiddenStates(options.mode)) return { sets: tokenized, lists: [], indices: [], ...counts };
	// One forward pass per distinct id list, whichever experts share the prompt.
	const unique = new Map<string, number>();
	const lists: number[][] = [];
	const indexOf = (ids: number[], where: string): number => {
		if (ids.length === 0) throw new MoeMergeError(`${where} tokenizes to no tokens (the base model's tokenizer adds no bos), so it has no hidden state to route by`, { hint: "remove the empty prompt or write some text in it" });
		const beyond = options.vocabSize === undefined ? undefined : ids.find((id) => id >= options.vocabSize!);
		if (beyond !== undefined) {
			throw new MoeMergeError(`${options.baseModelDir}: ${where} has token id ${beyond}, outside the base model's vocabulary (vocab_size ${options.vocabSize} in config.json)`, {
				file: options.baseModelDir,
				hint: "the base model's tokenizer does not match its config.json",
			});
		}
		const key = ids.join(",");
		let i = unique.get(key);
		if (i === undefined) unique.set(key, (i = lists.push(ids) - 1));
		return i;
	};
	const indices = tokenized.map((t, s) => {
		const who = s < options.experts.length ? `expert ${s}` : "the shared expert";
		return {
			positive: t.positive.map((ids, i) => indexOf(ids, `positive prompt ${i} of ${who}`)),
			negative: t.negative.map((ids, i) => indexOf(ids, `negative prompt ${i} of ${who}`)),
		};
	});
	return { sets: tokenized, lists, indices, ...counts };
}

/** The router rows: from the embedding rows the prompts use (cheap_embed) or from one forward pass over all distinct prompts. */
export async function buildPromptGates(options: BuildGatesOptions, prompts?: TokenizedGatePrompts): Promise<BuiltGates> {
	const { sets, lists, indices, distinctPrompts, tokens } = prompts ?? (await tokenizeGatePrompts(options));
	const counts = { distinctPrompts, tokens };
	const split = <T>(rows: T[]): [T[], T | undefined] => [rows.slice(0, options.experts.length), options.sharedExpert ? rows[rows.length - 1] : undefined];

	const mode = options.mode;
	if (!readsHiddenStates(mode)) {
		const sums = await withWeights(options, (weights) =>
			embeddingSums(weights, sets.flatMap((t) => [t.positive.flat(), t.negative.flat()]), options.hiddenSize),
		);
		const perSet = sets.map((t, i) => ({ positive: sums[2 * i], negative: t.negative.length > 0 ? sums[2 * i + 1] : undefined }));
		const [experts, shared] = split(perSet);
		return { ...gatesFromEmbeddingSums(experts, shared, options), ...counts };
	}

	if (!options.computeStates) throw new Error(`gate_mode ${mode} needs a forward pass (computeStates)`);
	const states = await options.computeStates(lists);
	if (states.length !== lists.length) throw new Error(`the forward pass returned ${states.length} prompt states for ${lists.length} prompts`);
	const pick = (idx: number[]): PromptStates[] => idx.map((i) => states[i]);
	const [experts, shared] = split(indices.map((i) => ({ positive: pick(i.positive), negative: pick(i.negative) })));
	return { ...gatesFromStates(mode, experts, shared, options), ...counts };
}

async function withWeights<T>(options: BuildGatesOptions, use: (weights: ModelWeights) => Promise<T>): Promise<T> {
	if (options.baseWeights) return use(options.baseWeights);
	const weights = await ModelWeights.open(options.baseModelDir);
	try {
		return await use(weights);
	} finally {
		await weights.close();
	}
}
