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
	signal?: AbortSignal;
}

export async function runMoeForward(modelDir: string, spec: MoeSpec, prompts: readonly number[][], options: MoeForwardOptions): Promise<PromptRouting[]> {
	return runPromptPass(modelDir, prompts, () => spec, (weights) => forward(weights, spec, prompts, options));
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
		const routing = await runMoeBlock(weights, spec, l, x, backend, buffer);
		if (routing) {
			spans.forEach((span, p) => {
				const rowsOf = (values: ArrayLike<number>, width: number): number[][] =>
					Array.from({ length: span.tokens }, (_, t) => Array.from((values as Float32Array).subarray((span.first + t) * width, (span.first + t + 1) * width)));
				layers[p]!.push({ layer: l, routerProbs: rowsOf(routing.probs, spec.experts), experts: rowsOf(routing.chosen, spec.topK) });
			});
		}
		options.onLayer?.(l + 1, dense.layers);
	}
	const logits = await lastTokenLogits(weights, dense, x, spans, await readVector(weights, tensorNames.finalNorm, H), backend, buffer);
	return spans.map((_, p) => ({ layers: layers[p]!, nextTokenLogits: logits[p]! }));
}
