import type { ExpertLayout } from "../architectures/output-architecture.js";
import { MoeMergeError } from "../errors.js";
import { buildRandomGates } from "../gates/random-gates.js";
import { buildTensorPlan } from "../plan/build-tensor-plan.js";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import type { Recipe } from "../recipe/index.js";
import { ModelWeights, type ShardPlan, dtypeBytes, planShards } from "../safetensors/index.js";
import { type ResolvedRecipe, resolveRecipeModels } from "./resolve-recipe-models.js";

export interface PlanMergeOptions {
	layout?: ExpertLayout;
	/** Maximum data bytes per output shard (default 5 GB, like mergekit-moe). */
	shardSize?: number;
	/** Seed of random gates and expert noise; drawn at random (and recorded) when absent. */
	seed?: number;
	cacheDir?: string;
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
}

export const DEFAULT_SHARD_SIZE = 5_000_000_000;

export async function planMerge(recipe: Recipe, options: PlanMergeOptions = {}): Promise<MergePlan> {
	const resolved = await resolveRecipeModels(recipe, { cacheDir: options.cacheDir });
	const layout = options.layout ?? "per-expert";
	const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
	const base = resolved.models[resolved.base].config;
	const routers = buildRouters(recipe, base.numLayers, base.hiddenSize, seed);
	const weights: ModelWeights[] = [];
	try {
		for (const model of resolved.models) weights.push(await ModelWeights.open(model.dir));
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
		return { ...resolved, layout, seed, weights, config, tensors, shards, dataBytes, fileBytes };
	} catch (error) {
		await Promise.all(weights.map((w) => w.close()));
		throw error;
	}
}

export async function closeMergePlan(plan: MergePlan): Promise<void> {
	await Promise.all(plan.weights.map((w) => w.close()));
}

const TORCH_DTYPE = { F32: "float32", F16: "float16", BF16: "bfloat16" } as Record<string, string>;

function buildRouters(recipe: Recipe, numLayers: number, hiddenSize: number, seed: number): Float32Array[] {
	const mode = recipe.gateMode;
	if (mode === "random" || mode === "uniform_random") {
		return buildRandomGates({ mode, numLayers, rows: recipe.experts.length, hiddenSize, seed });
	}
	throw new MoeMergeError(`${recipe.file}: gate_mode ${mode} (router weights from prompts) is not available in this version yet`, {
		file: recipe.file,
		hint: "use gate_mode: random or uniform_random for now",
	});
}
