/**
 * A float32 forward pass of an MoE checkpoint over a few prompts (the routing report), streamed one
 * decoder layer at a time (peak memory: one layer's attention, one expert, and the activations of all
 * prompt tokens), recording each sparse layer's routing and each prompt's next-token logits.
 */
import type { ModelWeights } from "../safetensors/index.js";
import { gatherEmbeddings } from "./embeddings.js";
import type { LinearBackend } from "./linear-backend.js";
import { lastTokenLogits } from "./lm-head.js";
import { tensorNames } from "./model-spec.js";
import { ReadBuffer, readVector } from "./tensor-io.js";
import { attentionScratch, promptRows, runAttentionBlock } from "./decoder-layer.js";
import { freeMatrices, packHalf, readAttention } from "./layer-weights.js";
import { runMoeBlock } from "./moe-block.js";
import type { MoeSpec } from "./moe-spec.js";
import { runPromptPass } from "./prompt-pass.js";
import { meanRows, type PromptStates } from "./compute-prompt-states.js";

/** One sparse layer's routing of one prompt. */
export interface PromptLayerRouting {
	layer: number;
	/** [tokens][experts] */
	routerProbs: number[][];
	/** [tokens][topK], highest probability first. */
	experts: number[][];
}

export interface PromptRouting {
	layers: PromptLayerRouting[];
	/** [vocab] logits of the token after the prompt. */
	nextTokenLogits: Float32Array;
}

export interface MoeForwardOptions {
	backend: LinearBackend;
	/** Called after each decoder layer. */
	onLayer?: (done: number, layers: number) => void;
	/** Sees each layer's MLP input, post_attention_layernorm(h) [tokens, hidden] (the router's input), with each prompt's rows. */
	onRouterInput?: (layer: number, normed: Float32Array, spans: readonly { first: number; tokens: number }[]) => void;
	/** Compute each prompt's next-token logits (default true; the router inputs alone need no lm_head). */
	logits?: boolean;
	signal?: AbortSignal;
}

export async function runMoeForward(modelDir: string, spec: MoeSpec, prompts: readonly number[][], options: MoeForwardOptions): Promise<PromptRouting[]> {
	return runPromptPass(modelDir, prompts, () => spec, (weights) => forward(weights, spec, prompts, options));
}

/**
 * Per prompt and layer, the last-token and mean router input of an MoE (post_attention_layernorm of the
 * hidden state entering each MoE block, computed with the MoE's own expert mix): the space its router
 * rows live in, where new rows for it are made (docs/edit.md).
 */
export async function computeMoeRouterInputs(modelDir: string, spec: MoeSpec, prompts: readonly number[][], options: Omit<MoeForwardOptions, "onRouterInput" | "logits">): Promise<PromptStates[]> {
	const H = spec.dense.hidden;
	const states: PromptStates[] = prompts.map(() => ({ last: [], mean: [] }));
	await runMoeForward(modelDir, spec, prompts, {
		...options,
		logits: false,
		onRouterInput: (_, normed, spans) =>
			spans.forEach((span, p) => {
				states[p]!.last.push(normed.slice((span.first + span.tokens - 1) * H, (span.first + span.tokens) * H));
				states[p]!.mean.push(meanRows(normed, span.first, span.tokens, H));
			}),
	});
	return states;
}

async function forward(weights: ModelWeights, spec: MoeSpec, prompts: readonly number[][], options: MoeForwardOptions): Promise<PromptRouting[]> {
	const { backend } = options;
	const dense = spec.dense;
	const H = dense.hidden;
	const spans = promptRows(prompts, dense.rope);
	const tokens = prompts.flat();
	const x = new Float32Array(tokens.length * H);
	const scratch = attentionScratch(dense, tokens.length);
	await gatherEmbeddings(weights, dense, tokens, x);
	const buffer = new ReadBuffer();
	const layers: PromptLayerRouting[][] = prompts.map(() => []);
	for (let l = 0; l < dense.layers; l++) {
		options.signal?.throwIfAborted();
		// The attention half is the dense forward pass's; only the MLP half differs.
		const attention = await packHalf(await readAttention(weights, dense, l, backend), backend);
		try {
			await runAttentionBlock(x, tokens.length, attention, dense.windows[l]!, dense, spans, scratch, backend);
		} finally {
			freeMatrices(backend, attention.qkv, attention.o);
		}
		const routing = await runMoeBlock(weights, spec, l, x, backend, buffer, options.onRouterInput && ((normed) => options.onRouterInput!(l, normed, spans)));
		if (routing) {
			spans.forEach((span, p) => {
				const rowsOf = (values: ArrayLike<number>, width: number): number[][] =>
					Array.from({ length: span.tokens }, (_, t) => Array.from((values as Float32Array).subarray((span.first + t) * width, (span.first + t + 1) * width)));
				layers[p]!.push({ layer: l, routerProbs: rowsOf(routing.probs, spec.experts), experts: rowsOf(routing.chosen, spec.topK) });
			});
		}
		options.onLayer?.(l + 1, dense.layers);
	}
	const logits = options.logits === false ? [] : await lastTokenLogits(weights, dense, x, spans, await readVector(weights, tensorNames.finalNorm, H), backend, buffer);
	return spans.map((_, p) => ({ layers: layers[p]!, nextTokenLogits: logits[p] ?? new Float32Array(0) }));
}
