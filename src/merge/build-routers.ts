/**
 * The router rows of a merge, by gate mode: seeded random rows and cheap_embed rows at once; rows from
 * hidden states either at once, or as a pending job that the merge runs while it writes every other
 * tensor (the forward pass over the base model is the long part, and the routers are a few KB).
 */
import { type GateSummary, buildPromptGates, buildRandomGates, routerStats, summarizeGates, tokenizeGatePrompts } from "../gates/index.js";
import { promptVectors, stateSummaryOf } from "../gates/gate-rows.js";
import { lengthBesideKeptRows } from "../gates/beside-kept-rows.js";
import type { PromptStates } from "../gates/prompt-states.js";
import type { HiddenGateMode } from "../recipe/gate-modes.js";
import { ComputeEngine } from "../kernels/index.js";
import { type ForwardProgress, computeMoeRouterInputs, computePromptStates, newPhaseTimes } from "../model/index.js";
import { type ExpertSpec, isRandomGateMode, keepsRouterRow, readsHiddenStates } from "../recipe/index.js";
import type { ModelWeights } from "../safetensors/index.js";
import type { ResolvedRecipe } from "./resolve-recipe-models.js";
import { gatesSharedExperts } from "../architectures/output-architecture.js";

export interface GatesOutcome {
	/** How the routers were made, with per-layer stats (their warnings are in `warnings`). */
	gates: GateSummary;
	warnings: string[];
}

export interface Routers extends GatesOutcome {
	/** Per layer, [E, H] row-major. */
	routers: Float32Array[];
	/** Per layer, the shared expert's gate row [H], when the recipe has a shared expert. */
	sharedGates?: Float32Array[];
}

/** A forward pass still to run; `layer(l)` resolves to router l once it has (and rejects if it fails). */
export interface PendingRouters {
	run(signal?: AbortSignal): Promise<GatesOutcome>;
	layer(l: number): Promise<Float32Array>;
	/** The shared expert's gate row of layer l (when the recipe has a shared expert). */
	sharedLayer(l: number): Promise<Float32Array>;
}

export interface RouterOptions {
	seed: number;
	/** Threads of the forward pass (default: one per core). */
	threads?: number;
	/** Prompt gates: "compute" (default) now; "defer": hidden-state ones as a PendingRouters; "skip": zeros, for a dry run that needs sizes only. */
	hiddenGates?: "compute" | "defer" | "skip";
	onGateProgress?: (progress: ForwardProgress) => void;
	/**
	 * Per layer, the router rows kept from an MoE (experts with `expert:` and no prompts), [K, H]: new
	 * prompt rows are lengthened beside them so their logits compare (gates/beside-kept-rows.ts, docs/edit.md).
	 */
	keptRows?: Float32Array[];
}

export async function buildRouters(resolved: ResolvedRecipe, baseWeights: ModelWeights, options: RouterOptions): Promise<Routers | PendingRouters> {
	const { recipe } = resolved;
	const { numLayers, hiddenSize } = resolved.models[resolved.base].config;
	const numExperts = recipe.experts.length;
	// Experts taken from an MoE without prompts keep their row (the tensor plan copies it); the others get new rows.
	const fresh = recipe.experts.flatMap((e, i) => (keepsRouterRow(e) ? [] : [i]));
	const allFresh = fresh.length === numExperts;
	const expertLabels = fresh.map((i) => resolved.models[resolved.experts[i]!]!.label);
	const mode = recipe.gateMode;
	const { seed } = options;
	// One gate row for all shared experts (they are one MLP in the output), when the architecture gates them.
	const gatedShared = recipe.sharedExperts.length > 0 && gatesSharedExperts(resolved.architecture);
	const zeros = (rows: number) => Array.from({ length: numLayers }, () => new Float32Array(rows * hiddenSize));
	if (isRandomGateMode(mode)) {
		// Drawn for every expert, so a new expert's row is the one a fresh merge would give it.
		const routers = buildRandomGates({ mode, numLayers, rows: numExperts, hiddenSize, seed });
		const sharedGates = gatedShared ? buildRandomGates({ mode, numLayers, rows: 1, hiddenSize, seed, purpose: "shared_expert_gate" }) : undefined;
		const { stats, warnings } = routerStats(allFresh ? routers : routers.map((r) => pickRows(r, fresh, hiddenSize)), fresh.length, hiddenSize, expertLabels);
		return { routers, sharedGates, gates: summarizeGates(mode, stats), warnings };
	}
	const hidden = readsHiddenStates(mode);
	// A dry run needs sizes only; cheap_embed would read embedding rows that `plan` of a Hub model does not download.
	// With every row kept there is nothing to compute.
	if (options.hiddenGates === "skip" || (fresh.length === 0 && !gatedShared)) {
		return { routers: zeros(numExperts), sharedGates: gatedShared ? zeros(1) : undefined, gates: summarizeGates(mode, []), warnings: [] };
	}
	const base = resolved.models[resolved.base];
	const baseMoe = base.moe;
	const gateOptions = {
		mode,
		baseModelDir: base.dir,
		baseWeights,
		numLayers,
		hiddenSize,
		expertLabels,
		experts: fresh.map((i) => gatePrompts(recipe.experts[i]!)),
		sharedExpert: gatedShared ? unionOfPrompts(recipe.sharedExperts) : undefined,
	};
	// Tokenizer problems, empty prompts and ids beyond the vocabulary are found now, before anything is written.
	const prompts = await tokenizeGatePrompts({ ...gateOptions, vocabSize: base.config.vocabSize });
	const build = async (signal?: AbortSignal): Promise<Routers> => {
		// The compute engine (worker threads) is started only for hidden-state modes, and stopped right after.
		const engine = hidden ? await ComputeEngine.create({ threads: options.threads }) : undefined;
		const times = newPhaseTimes();
		let forward: GateSummary["forward"];
		let states: PromptStates[] | undefined;
		try {
			const built = await buildPromptGates({
				...gateOptions,
				computeStates: engine && readsHiddenStates(mode)
					? async (lists) => {
						const summary = stateSummaryOf(mode) === "mean" ? "both" : "last";
						let layers = 0;
						const onProgress = (p: ForwardProgress) => {
							layers = p.layers;
							options.onGateProgress?.(p);
						};
						const started = performance.now();
						// An MoE base: its own routing input (what its kept rows multiply), from its own expert mix.
						states = baseMoe
							? await computeMoeRouterInputs(base.dir, baseMoe.spec, lists, { backend: engine, signal, onLayer: (layer, total) => onProgress({ layer, layers: total, prompt: 0, prompts: lists.length }) })
							: (await computePromptStates(base.dir, { prompts: lists }, { backend: engine, onProgress, summary, signal, times, weights: base.adapter || base.weightFiles ? baseWeights : undefined })).states;
						forward = { seconds: (performance.now() - started) / 1000, layers, phases: { ...times } };
						return states;
					}
					: undefined,
			}, prompts);
			const gates = { ...summarizeGates(mode, built.stats, built), ...(forward && { forward }) };
			// Beside kept rows, each new row's length: from the router inputs of its positive prompts (hidden modes).
			const lengthOf = (l: number, i: number, row: Float32Array): number => {
				const kept = options.keptRows?.[l];
				if (!kept) return 1;
				const positives = states && hidden ? prompts.indices[i]!.positive.map((j) => promptVectors(states![j]!, mode as HiddenGateMode)[l]!) : [];
				return lengthBesideKeptRows(row, kept, positives, hiddenSize);
			};
			const routers = allFresh ? built.routers : built.routers.map((r, l) => placeRows(r, fresh, numExperts, hiddenSize, (i, row) => lengthOf(l, i, row)));
			return { routers, sharedGates: built.sharedGates, gates, warnings: built.warnings };
		} finally {
			await engine?.close();
		}
	};
	if (!hidden || options.hiddenGates !== "defer") return build();
	return pendingRouters(build);
}

/** Rows `which` of an [n, H] matrix, in that order. */
function pickRows(matrix: Float32Array, which: readonly number[], H: number): Float32Array {
	const out = new Float32Array(which.length * H);
	which.forEach((e, i) => out.set(matrix.subarray(e * H, (e + 1) * H), i * H));
	return out;
}

/** The new rows [fresh.length, H] at their experts' places of an [E, H] router (kept places stay zero, the plan copies them), each scaled by `length`. */
function placeRows(rows: Float32Array, fresh: readonly number[], E: number, H: number, length: (i: number, row: Float32Array) => number): Float32Array {
	const out = new Float32Array(E * H);
	fresh.forEach((e, i) => {
		const row = rows.subarray(i * H, (i + 1) * H);
		const scale = length(i, row);
		for (let j = 0; j < H; j++) out[e * H + j] = row[j]! * scale;
	});
	return out;
}

export function isPending(routers: Routers | PendingRouters): routers is PendingRouters {
	return "run" in routers;
}

function pendingRouters(build: (signal?: AbortSignal) => Promise<Routers>): PendingRouters {
	let settle: { resolve(r: Routers): void; reject(e: unknown): void } | undefined;
	const ready = new Promise<Routers>((resolve, reject) => (settle = { resolve, reject }));
	// Whoever waits for a layer sees the failure; the merge sees it from run().
	ready.catch(() => undefined);
	return {
		async run(signal) {
			try {
				const built = await build(signal);
				settle!.resolve(built);
				return { gates: built.gates, warnings: built.warnings };
			} catch (error) {
				settle!.reject(error);
				throw error;
			}
		},
		layer: async (l) => (await ready).routers[l]!,
		sharedLayer: async (l) => {
			const shared = (await ready).sharedGates;
			if (!shared) throw new Error("the routers were built without a shared expert gate");
			return shared[l]!;
		},
	};
}

/** The shared experts' gate row: their prompts taken together (the average over all of them, as for one expert). */
function unionOfPrompts(experts: ExpertSpec[]): ReturnType<typeof gatePrompts> {
	return { positive: experts.flatMap((e) => e.positivePrompts), negative: experts.flatMap((e) => e.negativePrompts) };
}

function gatePrompts(expert: ExpertSpec): { positive: ExpertSpec["positivePrompts"]; negative: ExpertSpec["negativePrompts"] } {
	return { positive: expert.positivePrompts, negative: expert.negativePrompts };
}
