import type { ExpertLayout } from "../architectures/output-architecture.js";
import { MoeMergeError } from "../errors.js";
import { type GateSummary, buildPromptGates, buildRandomGates, routerStats, summarizeGates } from "../gates/index.js";
import { ComputeEngine } from "../kernels/index.js";
import { type ForwardProgress, computePromptStates } from "../model/index.js";
import { buildTensorPlan } from "../plan/build-tensor-plan.js";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import type { ExpertSpec, Recipe } from "../recipe/index.js";
import { ModelWeights, type ShardPlan, dtypeBytes, planShards } from "../safetensors/index.js";
import { type InputStamps, stampInputs } from "./input-stamps.js";
import { type ResolvedRecipe, resolveRecipeModels } from "./resolve-recipe-models.js";

export interface PlanMergeOptions {
	layout?: ExpertLayout;
	/** Maximum data bytes per output shard (default 5 GB, like mergekit-moe). */
	shardSize?: number;
	/** Seed of random gates and expert noise; drawn at random (and recorded) when absent. */
	seed?: number;
	cacheDir?: string;
	/** Threads of the forward pass that computes hidden-state gates (default: one per core). */
	threads?: number;
	/**
	 * false: leave hidden-state routers as zeros instead of running the forward pass, for a dry run
	 * (`moe-merge plan`) that needs the tensor layout and sizes, not the router values.
	 */
	computeGates?: boolean;
	/** Read Hub models' weight headers with range requests instead of downloading them (`plan`; implies no gates). */
	headersOnly?: boolean;
	/** Progress of the forward pass of hidden-state gates, layer by layer. */
	onGateProgress?: (progress: ForwardProgress) => void;
}

/** Everything a merge will do, decided and checked before the first byte is written. */
export interface MergePlan extends ResolvedRecipe {
	layout: ExpertLayout;
	seed: number;
	/** Open weights of each entry of `models`. Close with closeMergePlan. */
	weights: ModelWeights[];
	config: Record<string, unknown>;
	tensors: PlannedTensor[];
	shards: ShardPlan[];
	/** Tensor data bytes and bytes on disk of all shards. */
	dataBytes: number;
	fileBytes: number;
	/** How the routers were made, with per-layer stats (their warnings are in `warnings`). */
	gates: GateSummary;
	/** Size, mtime and inode of every input weight file when opened, to refuse inputs changed during the merge. */
	inputStamps: InputStamps;
	/** Per layer, the shared expert's gate row [H], when the recipe has a shared expert. */
	sharedGates?: Float32Array[];
}

export const DEFAULT_SHARD_SIZE = 5_000_000_000;

export async function planMerge(recipe: Recipe, options: PlanMergeOptions = {}): Promise<MergePlan> {
	const resolved = await resolveRecipeModels(recipe, { cacheDir: options.cacheDir, headersOnly: options.headersOnly });
	const layout = options.layout ?? "per-expert";
	const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
	const base = resolved.models[resolved.base].config;
	const weights: ModelWeights[] = [];
	try {
		for (const model of resolved.models) weights.push(await ModelWeights.open(model.dir, model.weightFiles));
		const inputStamps = await stampInputs(weights);
		const { routers, sharedGates, gates, warnings: gateWarnings } = await buildRouters(resolved, weights[resolved.base], seed, options);
		const tensors = buildTensorPlan({
			architecture: resolved.architecture,
			layout,
			dtype: resolved.dtype,
			weights: resolved.models.map((m, i) => ({ label: m.label, weights: weights[i] })),
			base: resolved.base,
			experts: recipe.experts.map((e, i) => ({ source: resolved.experts[i], noiseScale: e.noiseScale, residualScale: e.residualScale })),
			numLayers: base.numLayers,
			hiddenSize: base.hiddenSize,
			intermediateSize: base.intermediateSize,
			routers,
		});
		const shards = planShards(
			tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
			options.shardSize ?? DEFAULT_SHARD_SIZE,
		);
		const config = resolved.architecture.deriveConfig({
			base,
			numExperts: recipe.experts.length,
			expertsPerToken: recipe.expertsPerToken,
			dtype: TORCH_DTYPE[resolved.dtype],
		});
		const dataBytes = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * dtypeBytes(t.dtype), 0);
		const fileBytes = shards.reduce((sum, s) => sum + s.headerBytes + s.dataBytes, 0);
		const warnings = [...resolved.warnings, ...gateWarnings];
		return { ...resolved, warnings, layout, seed, weights, config, tensors, shards, dataBytes, fileBytes, gates, sharedGates, inputStamps };
	} catch (error) {
		await Promise.all(weights.map((w) => w.close()));
		throw error;
	}
}

export async function closeMergePlan(plan: MergePlan): Promise<void> {
	await Promise.all(plan.weights.map((w) => w.close()));
}

const TORCH_DTYPE = { F32: "float32", F16: "float16", BF16: "bfloat16" } as Record<string, string>;

interface Routers {
	routers: Float32Array[];
	sharedGates?: Float32Array[];
	gates: GateSummary;
	warnings: string[];
}

async function buildRouters(resolved: ResolvedRecipe, baseWeights: ModelWeights, seed: number, options: PlanMergeOptions): Promise<Routers> {
	const { recipe } = resolved;
	const base = resolved.models[resolved.base];
	const { numLayers, hiddenSize } = base.config;
	const numExperts = recipe.experts.length;
	const expertLabels = resolved.experts.map((m) => resolved.models[m].label);
	const mode = recipe.gateMode;
	if (mode === "random" || mode === "uniform_random") {
		const routers = buildRandomGates({ mode, numLayers, rows: numExperts, hiddenSize, seed });
		const sharedGates = recipe.sharedExperts.length > 0 ? buildRandomGates({ mode, numLayers, rows: 1, hiddenSize, seed, purpose: "shared_expert_gate" }) : undefined;
		const { stats, warnings } = routerStats(routers, numExperts, hiddenSize, expertLabels);
		return { routers, sharedGates, gates: summarizeGates(mode, stats), warnings };
	}
	// Without gates (plan) every mode gets zero routers: cheap_embed would read embeddings that may not be here.
	if (options.computeGates === false || options.headersOnly) {
		const routers = Array.from({ length: numLayers }, () => new Float32Array(numExperts * hiddenSize));
		return { routers, gates: summarizeGates(mode, []), warnings: [] };
	}
	// The compute engine (worker threads) is started only for hidden-state modes, and stopped right after.
	const engine = mode === "cheap_embed" ? undefined : await ComputeEngine.create({ threads: options.threads });
	let built: Awaited<ReturnType<typeof buildPromptGates>>;
	try {
		built = await buildPromptGates({
			mode,
			baseModelDir: base.dir,
			baseWeights,
			numLayers,
			hiddenSize,
			expertLabels,
			experts: recipe.experts.map(gatePrompts),
			sharedExpert: recipe.sharedExperts[0] && gatePrompts(recipe.sharedExperts[0]),
			computeStates: engine
				? async (prompts) => (await computePromptStates(base.dir, { prompts }, { backend: engine, onProgress: options.onGateProgress })).states
				: undefined,
		});
	} finally {
		await engine?.close();
	}
	return { routers: built.routers, sharedGates: built.sharedGates, gates: summarizeGates(mode, built.stats, built), warnings: built.warnings };
}

function gatePrompts(expert: ExpertSpec): { positive: ExpertSpec["positivePrompts"]; negative: ExpertSpec["negativePrompts"] } {
	return { positive: expert.positivePrompts, negative: expert.negativePrompts };
}
