/**
 * llama.cpp itself (the npm package node-llama-cpp, a devDependency with prebuilt binaries) as the
 * judge of the GGUF files we write: its tokenization, next-token log-probabilities and greedy tokens.
 * KV cache in f32 and no flash attention, so an f32 file is compared without llama.cpp's own f16 rounding.
 */
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";

let llama: Promise<Llama> | undefined;

export function llamaCpp(): Promise<Llama> {
	llama ??= getLlama({ gpu: false, build: "never", progressLogs: false, logLevel: "error" as never });
	return llama;
}

export async function loadGguf(file: string): Promise<LlamaModel> {
	return (await llamaCpp()).loadModel({ modelPath: file });
}

/** The ids llama.cpp gives `text` (special tokens parsed), with its bos when the file says to add one. */
export function llamaTokenize(model: LlamaModel, text: string): number[] {
	const ids = Array.from(model.tokenize(text, true)) as number[];
	return model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos as number, ...ids] : ids;
}

/** Natural-log probabilities of the token after `ids`, over the whole vocabulary. */
export async function nextLogProbs(model: LlamaModel, ids: readonly number[], vocab: number): Promise<Float64Array> {
	const context = await model.createContext({ contextSize: 128, batchSize: 128, threads: 1, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false });
	try {
		const sequence = context.getSequence();
		const input = ids.map((t, i) =>
			i === ids.length - 1 ? ([t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const) : t,
		);
		const out = await sequence.controlledEvaluate(input as never);
		const probabilities = out[ids.length - 1]!.next.probabilities!;
		const result = new Float64Array(vocab).fill(Number.NEGATIVE_INFINITY);
		for (const [token, p] of probabilities) result[token as number] = Math.log(p);
		return result;
	} finally {
		await context.dispose();
	}
}

/** `count` greedy (temperature 0) tokens after `ids`. */
export async function greedy(model: LlamaModel, ids: readonly number[], count: number): Promise<number[]> {
	const context = await model.createContext({ contextSize: 128, batchSize: 128, threads: 1, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false });
	try {
		const tokens: number[] = [];
		for await (const token of context.getSequence().evaluate(ids as never, { temperature: 0 })) {
			tokens.push(token as number);
			if (tokens.length === count) break;
		}
		return tokens;
	} finally {
		await context.dispose();
	}
}

/** log_softmax of transformers' logits. */
export function logSoftmax(logits: Float32Array): Float64Array {
	let max = Number.NEGATIVE_INFINITY;
	for (const x of logits) max = Math.max(max, x);
	let sum = 0;
	for (const x of logits) sum += Math.exp(x - max);
	const lse = max + Math.log(sum);
	return Float64Array.from(logits, (x) => x - lse);
}
