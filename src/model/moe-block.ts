/**
 * The MLP half of one decoder layer of an MoE checkpoint, as transformers computes it, by the
 * architecture's description (tensor names, router rule):
 *   h = post_attention_layernorm(x); p = softmax(router · h) (f32); the top-k experts of each token,
 *   their weights renormalised to sum 1 when the router rule says so (always for Mixtral);
 *   x += Σ_k w_k · expert_k(h)  [+ sigmoid(shared_expert_gate · h) · shared_expert(h) for Qwen2-MoE,
 *   + shared_experts(h) for DeepSeek].
 * Each expert's weights are read only if some token is routed to it, used for those tokens, and freed.
 */
import type { ModelWeights } from "../safetensors/index.js";
import type { LinearBackend } from "./linear-backend.js";
import { rmsNorm } from "./rms-norm.js";
import { tensorNames } from "./model-spec.js";
import { readStacked, readVector, type ReadBuffer } from "./tensor-io.js";
import type { RouterRule } from "../architectures/output-architecture.js";
import { expertSource, freeMlp, layoutOf, mlpNames, packMlp, runMlp, type MlpSource } from "./expert-weights.js";
import type { MoeSpec } from "./moe-spec.js";

export interface LayerRouting {
	/** [rows, experts]: softmax of the router logits. */
	probs: Float32Array;
	/** [rows, topK]: chosen experts, highest probability first. */
	chosen: Int32Array;
}

/** Adds layer l's MLP output to `x` [rows, hidden]; the routing of every row for sparse layers. */
export async function runMoeBlock(
	weights: ModelWeights,
	spec: MoeSpec,
	l: number,
	x: Float32Array,
	backend: LinearBackend,
	buffer: ReadBuffer,
	/** Sees the block's input, post_attention_layernorm(x) [rows, hidden]: what the router multiplies. */
	onRouterInput?: (normed: Float32Array) => void,
): Promise<LayerRouting | undefined> {
	const { hidden: H, eps } = spec.dense;
	const rows = x.length / H;
	const normed = new Float32Array(rows * H);
	rmsNorm(x, normed, rows, H, await readVector(weights, tensorNames.layer(l, "post_attention_layernorm.weight"), H), eps);
	onRouterInput?.(normed);
	const add = (y: Float32Array, scale: (row: number) => number): void => {
		for (let r = 0; r < rows; r++) {
			const s = scale(r);
			for (let i = 0; i < H; i++) x[r * H + i] += Math.fround(y[r * H + i]! * s);
		}
	};

	const { arch } = spec;
	if (!spec.sparse[l]) {
		add(await applyMlp({ names: mlpNames((p) => arch.denseMlpName(l, p)) }, spec.dense.intermediate, normed, rows), () => 1);
		return undefined;
	}
	const layout = layoutOf(weights, arch, l);
	const logits = await linearOnce(arch.routerName(l, layout), spec.experts, normed, rows);
	const routing = ROUTERS[arch.router.scoring](logits, rows, spec);
	const out = new Float32Array(rows * H);
	for (let e = 0; e < spec.experts; e++) {
		const mine: number[] = [];
		const scale: number[] = [];
		for (let r = 0; r < rows; r++) {
			for (let k = 0; k < spec.topK; k++) {
				if (routing.chosen[r * spec.topK + k] === e) {
					mine.push(r);
					scale.push(routing.weights[r * spec.topK + k]!);
				}
			}
		}
		if (mine.length === 0) continue;
		const input = new Float32Array(mine.length * H);
		mine.forEach((r, i) => input.set(normed.subarray(r * H, (r + 1) * H), i * H));
		const y = await applyMlp(expertSource(arch, layout, l, e, spec.experts), spec.expertIntermediate, input, mine.length);
		mine.forEach((r, i) => {
			for (let j = 0; j < H; j++) out[r * H + j] += Math.fround(y[i * H + j]! * scale[i]!);
		});
	}
	add(out, () => 1);
	const shared = arch.sharedExpertNames;
	if (shared && spec.sharedIntermediate) {
		const gateName = shared.gate?.(l);
		const gate = gateName ? await linearOnce(gateName, 1, normed, rows) : undefined;
		const y = await applyMlp({ names: mlpNames((p) => shared.projection(l, p)) }, spec.sharedIntermediate, normed, rows);
		add(y, gate ? (r) => Math.fround(1 / (1 + Math.exp(-gate[r]!))) : () => 1);
	}
	return { probs: routing.probs, chosen: routing.chosen };

	async function applyMlp(source: MlpSource, intermediate: number, input: Float32Array, n: number): Promise<Float32Array> {
		const mlp = await packMlp(weights, source, H, intermediate, backend, buffer);
		try {
			return await runMlp(input, n, mlp, backend);
		} finally {
			freeMlp(backend, mlp);
		}
	}

	/** input · Wᵀ for a small [outRows, H] matrix (router, shared-expert gate). */
	async function linearOnce(name: string, outRows: number, input: Float32Array, n: number): Promise<Float32Array> {
		const raw = await readStacked(weights, [{ name, rows: outRows }], H, buffer);
		const w = await backend.packLinear(raw.bytes, raw.dtype, outRows, H);
		try {
			return await backend.linear(input, n, w);
		} finally {
			backend.free(w);
		}
	}
}

type Route = (logits: Float32Array, rows: number, spec: Pick<MoeSpec, "experts" | "topK" | "normTopK">) => LayerRouting & { weights: Float32Array };

/** Each router rule's scoring, computed (a new scoring in RouterRule needs its function here). */
const ROUTERS: Record<RouterRule["scoring"], Route> = { softmax: route };

/** Softmax per row (f64 sums, f32 results as torch's float softmax), then top-k with optional renormalisation. */
export function route(logits: Float32Array, rows: number, spec: Pick<MoeSpec, "experts" | "topK" | "normTopK">): LayerRouting & { weights: Float32Array } {
	const { experts: E, topK: K } = spec;
	const probs = new Float32Array(rows * E);
	const chosen = new Int32Array(rows * K);
	const weights = new Float32Array(rows * K);
	const order = Array.from({ length: E }, (_, e) => e);
	for (let r = 0; r < rows; r++) {
		const row = logits.subarray(r * E, (r + 1) * E);
		const max = Math.max(...row);
		let sum = 0;
		for (let e = 0; e < E; e++) sum += Math.exp(row[e]! - max);
		for (let e = 0; e < E; e++) probs[r * E + e] = Math.exp(row[e]! - max) / sum;
		const p = probs.subarray(r * E, (r + 1) * E);
		// Highest first; ties keep the lower expert id first, like torch.topk on CPU.
		const top = [...order].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, K);
		let total = 0;
		for (const e of top) total += p[e]!;
		top.forEach((e, k) => {
			chosen[r * K + k] = e;
			weights[r * K + k] = spec.normTopK ? Math.fround(p[e]! / total) : p[e]!;
		});
	}
	return { probs, chosen, weights };
}
