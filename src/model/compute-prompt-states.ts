/**
 * Hidden states of prompts through a dense base model, streamed one decoder layer at a time: the
 * embedding rows of the prompt tokens, then for each layer its weights are packed, every prompt goes
 * through it, the per-prompt summaries of the layer's input are kept, and the layer is freed. Weights
 * go half a layer at a time (attention, MLP): the next half's raw weights are read while the current
 * one multiplies, so the products rarely wait for the disk. Peak memory is one packed half, the next
 * half's raw bytes and the activations of all tokens.
 *
 * Routers read the input of each decoder layer, so without `logits` or `keepAll` the last layer is not
 * run, and with `summary: "last"` the layer before it only updates each prompt's last token.
 */
import { readDenseConfig } from "../inputs/dense-config.js";
import type { ModelWeights } from "../safetensors/index.js";
import { LayerScratch, promptRows, runAttentionBlock, runMlpBlock, type LayerRows } from "./decoder-layer.js";
import { gatherEmbeddings } from "./embeddings.js";
import { freeMatrices, packHalf, readAttention, readMlp, releaseHalf, type RawAttention, type RawMlp } from "./layer-weights.js";
import type { LinearBackend } from "./linear-backend.js";
import { lastTokenLogits } from "./lm-head.js";
import { describeModel, tensorNames, type ModelSpec } from "./model-spec.js";
import { timed, type PhaseTimes } from "./phase-times.js";
import { runPromptPass } from "./prompt-pass.js";
import { rmsNorm } from "./rms-norm.js";
import { ReadBuffer, readVector } from "./tensor-io.js";

export interface HiddenStateRequest {
	/** Token ids per prompt; each prompt runs alone (no padding), at positions 0..T-1. */
	prompts: number[][];
}

/** Per layer l = 0..L-1, a summary of the input of decoder layer l (l = 0: the embeddings). */
export interface PromptStates {
	/** [L] of hidden: the state at the last token. */
	last: Float32Array[];
	/** [L] of hidden: the mean over all tokens; empty with `summary: "last"`. */
	mean: Float32Array[];
}

/** Every state of one prompt (tests). */
export interface PromptAllStates {
	/** [L + 1] of [T, hidden]: the inputs of layers 0..L-1, then the raw output of the last layer. */
	layers: Float32Array[];
	/** [T, hidden]: the final RMSNorm of the last layer's output (transformers' hidden_states[L]). */
	finalNorm: Float32Array;
}

export interface ForwardProgress {
	/** Decoder layers completed (0..layers). */
	layer: number;
	/** Decoder layers this pass runs (the last one is skipped when only router inputs are asked for). */
	layers: number;
	/** Prompts whose attention is done in the layer being computed; 0 right after a layer completes. */
	prompt: number;
	prompts: number;
}

export interface ForwardOptions {
	backend: LinearBackend;
	onProgress?: (p: ForwardProgress) => void;
	/** Also compute the final norm and lm_head logits of each prompt's last token (tests). */
	logits?: boolean;
	/** Keep every state of every prompt (tests). */
	keepAll?: boolean;
	/** Token rows per MLP matrix product; default: as many as keep the [rows, 2·intermediate] buffer within 64 MB. */
	mlpChunkRows?: number;
	/** Which summaries of each layer's input to keep: "both" (default) last-token and mean, or "last" only (less work). */
	summary?: "both" | "last";
	/** Stops the pass between layers. */
	signal?: AbortSignal;
	/** Adds where the wall time goes, phase by phase, here (benchmarks, --json). */
	times?: PhaseTimes;
}

export interface PromptStatesResult {
	states: PromptStates[];
	/** Per prompt, the [vocab] logits of the last token, when `logits` was asked for. */
	logits?: Float32Array[];
	/** Per prompt, when `keepAll` was asked for. */
	all?: PromptAllStates[];
}

/** `options.weights`: the model's weights already open (e.g. with a LoRA applied as they are read); else opened from `modelDir`. */
export async function computePromptStates(modelDir: string, request: HiddenStateRequest, options: ForwardOptions & { weights?: ModelWeights }): Promise<PromptStatesResult> {
	const { prompts } = request;
	return runPromptPass(modelDir, prompts, async () => describeModel(await readDenseConfig(modelDir)), (weights, spec) => forward(weights, spec, prompts, options), options.weights);
}

async function forward(weights: ModelWeights, spec: ModelSpec, prompts: number[][], options: ForwardOptions): Promise<PromptStatesResult> {
	const { backend, onProgress, signal, times } = options;
	const { hidden: H, layers: L } = spec;
	const full = options.logits === true || options.keepAll === true;
	const lastOnly = !full && options.summary === "last";
	// Without logits, the output of the last layer is read by no router.
	const runLayers = full ? L : L - 1;
	const rows = promptRows(prompts, spec.rope);
	const M = prompts.reduce((n, ids) => n + ids.length, 0);
	const x = new Float32Array(M * H);
	await gatherEmbeddings(weights, spec, prompts.flat(), x);

	const states: PromptStates[] = prompts.map(() => ({ last: [], mean: [] }));
	const all: PromptAllStates[] | undefined = options.keepAll ? rows.map(() => ({ layers: [], finalNorm: new Float32Array(0) })) : undefined;
	const keep = (): void =>
		rows.forEach((r, p) => {
			states[p]!.last.push(x.slice((r.first + r.tokens - 1) * H, (r.first + r.tokens) * H));
			if (!lastOnly) states[p]!.mean.push(meanRows(x, r.first, r.tokens, H));
			all?.[p]!.layers.push(x.slice(r.first * H, (r.first + r.tokens) * H));
		});
	const scratch = new LayerScratch(spec, M, options.mlpChunkRows);
	const report = (layer: number, prompt: number): void => onProgress?.({ layer, layers: runLayers, prompt, prompts: prompts.length });
	// The next half layer's raw weights are read while the current half multiplies.
	let nextAttention: Promise<RawAttention> | undefined = runLayers > 0 ? readAttention(weights, spec, 0, backend) : undefined;
	let nextMlp: Promise<RawMlp> | undefined;
	try {
		for (let l = 0; l < runLayers; l++) {
			keep();
			signal?.throwIfAborted();
			const rawAttention = await timed(times, "readWait", () => nextAttention!);
			nextAttention = undefined;
			const attention = await timed(times, "pack", () => packHalf(rawAttention, backend));
			let leaving: LayerRows;
			try {
				nextMlp = readMlp(weights, spec, l, backend);
				const outputs = lastOnly && l === runLayers - 1 ? "last" : "all";
				leaving = await runAttentionBlock(x, M, attention, spec.windows[l]!, spec, rows, scratch, backend, { onPrompt: (p) => report(l, p), outputs, times });
			} finally {
				freeMatrices(backend, attention.qkv, attention.o);
			}
			const rawMlp = await timed(times, "readWait", () => nextMlp!);
			nextMlp = undefined;
			const mlp = await timed(times, "pack", () => packHalf(rawMlp, backend));
			try {
				if (l + 1 < runLayers) nextAttention = readAttention(weights, spec, l + 1, backend);
				await runMlpBlock(x, leaving, mlp, spec, scratch, backend, times);
			} finally {
				freeMatrices(backend, mlp.gateUp, mlp.down);
			}
			report(l + 1, 0);
		}
	} finally {
		// After a failure, a half being read ahead is given back once its read ends.
		await Promise.all([nextAttention?.then(releaseHalf, () => undefined), nextMlp?.then(releaseHalf, () => undefined)]);
	}
	if (runLayers < L) keep();

	const result: PromptStatesResult = { states };
	if (!full) return result;
	const normWeight = await readVector(weights, tensorNames.finalNorm, H);
	if (all) {
		rows.forEach((r, p) => {
			const own = x.slice(r.first * H, (r.first + r.tokens) * H);
			all[p]!.layers.push(own);
			all[p]!.finalNorm = new Float32Array(own.length);
			rmsNorm(own, all[p]!.finalNorm, r.tokens, H, normWeight, spec.eps);
		});
		result.all = all;
	}
	if (options.logits) result.logits = await lastTokenLogits(weights, spec, x, rows, normWeight, backend, new ReadBuffer());
	return result;
}

/** Mean over `tokens` rows from `first`, accumulated in f64. */
export function meanRows(x: Float32Array, first: number, tokens: number, H: number): Float32Array {
	const sum = new Float64Array(H);
	for (let t = first; t < first + tokens; t++) {
		for (let i = 0; i < H; i++) sum[i] += x[t * H + i]!;
	}
	const out = new Float32Array(H);
	for (let i = 0; i < H; i++) out[i] = sum[i]! / tokens;
	return out;
}
