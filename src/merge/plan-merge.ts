import type { ExpertLayout, TrainingSettings } from "../architectures/output-architecture.js";
import { type LoraInputs, openLoraInputs } from "./lora-inputs.js";
import { MoeMergeError } from "../errors.js";
import type { HubAccess } from "../hub/hub-context.js";
import type { GateSummary } from "../gates/index.js";
import type { ForwardProgress } from "../model/index.js";
import { type LayerValues, type TensorPlanInput, buildTensorPlan } from "../plan/build-tensor-plan.js";
import { inputFamilyOf } from "../inputs/input-families.js";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import type { Recipe } from "../recipe/index.js";
import { ModelWeights, type ShardPlan, dtypeBytes, planShards, torchDTypeName } from "../safetensors/index.js";
import { type PendingRouters, buildRouters, isPending } from "./build-routers.js";
import { type InputStamps, stampInputs } from "../inputs/input-stamps.js";
import { type ResolvedRecipe, resolveRecipeModels } from "./resolve-recipe-models.js";
import type { ResolvedModel } from "./resolve-model.js";
import { keptRouterRows, keptRowValues } from "./expert-origins.js";
import { denseViewOfMoe, viewSharedName } from "../model/moe-as-dense.js";

export interface PlanMergeOptions {
	layout?: ExpertLayout;
	/** Maximum data bytes per output shard (default 5 GB, like mergekit-moe). */
	shardSize?: number;
	/** Seed of random gates and expert noise; drawn at random (and recorded) when absent. */
	seed?: number;
	/** How Hub models are found and downloaded (token, endpoint, cache, offline, progress, abort); default: the environment's. */
	hub?: HubAccess;
	/** Threads of the forward pass that computes hidden-state gates (default: one per core). */
	threads?: number;
	/**
	 * Routers from hidden states: "compute" (default) runs the forward pass in planMerge; "defer" leaves
	 * it to `plan.pendingGates`, which the merge runs while it writes the other tensors; "skip" leaves
	 * them zeros, for a dry run (`moe-merge plan`) that needs the tensor layout and sizes, not the values.
	 */
	hiddenGates?: "compute" | "defer" | "skip";
	/** Read Hub models' weight headers with range requests instead of downloading them (`plan`; implies no prompt gates). */
	headersOnly?: boolean;
	/** Read Hub models' LFS weights with range requests as the merge goes, never storing them (`--no-local-copy`). */
	rangeWeights?: boolean;
	/** Router training settings for config.json; each one given here wins over the recipe's. */
	training?: TrainingSettings;
	/** Refuse to merge when a source resolves differently from the lock beside the recipe, or a LoRA names another base model. */
	locked?: boolean;
	/** Progress of the forward pass of hidden-state gates, layer by layer. */
	onGateProgress?: (progress: ForwardProgress) => void;
}

/** Everything a merge will do, decided and checked before the first byte is written. */
export interface MergePlan extends ResolvedRecipe {
	layout: ExpertLayout;
	seed: number;
	/** Maximum data bytes per output shard: the option, or DEFAULT_SHARD_SIZE. */
	shardSize: number;
	/** Open weights of each entry of `models`. Close with closeMergePlan. */
	weights: ModelWeights[];
	config: Record<string, unknown>;
	tensors: PlannedTensor[];
	shards: ShardPlan[];
	/** Tensor data bytes and bytes on disk of all shards. */
	dataBytes: number;
	fileBytes: number;
	/** How the routers were made, with per-layer stats (their warnings are in `warnings`); with pending gates, what `pendingGates.run` gives instead. */
	gates?: GateSummary;
	/** Hidden-state routers still to compute (hiddenGates "defer"): the router tensors' values wait for its run(). */
	pendingGates?: PendingRouters;
	/** Size, mtime and inode of every input weight file when opened, to refuse inputs changed during the merge. */
	inputStamps: InputStamps;
	/** Per layer, the shared expert's gate row [H], when the recipe has a shared expert. */
	sharedGates?: Float32Array[];
	/** The `base+lora` adapters, applied to `weights` as they are read; closed with the plan. */
	loras?: LoraInputs;
}

/** Output shards hold at most this many data bytes unless told otherwise (5 GB, like mergekit-moe). */
export const DEFAULT_SHARD_SIZE = 5_000_000_000;

export async function planMerge(recipe: Recipe, options: PlanMergeOptions = {}): Promise<MergePlan> {
	const resolved = await resolveRecipeModels(recipe, { hub: options.hub, headersOnly: options.headersOnly, rangeWeights: options.rangeWeights });
	const layout = options.layout ?? "per-expert";
	const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
	const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE;
	const base = resolved.models[resolved.base].config;
	const weights: ModelWeights[] = [];
	let loras: LoraInputs | undefined;
	try {
		for (const model of resolved.models) weights.push(await openSource(model));
		const inputStamps = await stampInputs(weights);
		// base+lora: each such model's weights are read with its adapter applied (the gates' forward pass too).
		loras = await openLoraInputs(resolved.models, weights, { threads: options.threads, locked: options.locked });
		resolved.warnings.push(...loras.warnings);
		const kept = keptRouterRows(resolved);
		const hiddenGates = options.headersOnly ? "skip" : options.hiddenGates;
		const keptRows = hiddenGates === "skip" ? undefined : await keptRowValues(kept, weights, base.numLayers, base.hiddenSize);
		const built = await buildRouters(resolved, weights[resolved.base], { ...options, seed, hiddenGates, keptRows });
		const pending = isPending(built) ? built : undefined;
		const ready = isPending(built) ? undefined : built;
		const tensors = buildTensorPlan({
			architecture: resolved.architecture,
			inputNames: inputFamilyOf(base.modelType).names,
			layout,
			dtype: resolved.dtype,
			weights: resolved.models.map((m, i) => ({ label: m.label, weights: weights[i] })),
			base: resolved.base,
			experts: recipe.experts.map((e, i) => ({ source: resolved.experts[i], noiseScale: e.noiseScale, residualScale: e.residualScale })),
			numLayers: base.numLayers,
			hiddenSize: base.hiddenSize,
			intermediateSize: base.intermediateSize,
			attentionRows: {
				q_proj: base.numHeads * base.headDim,
				k_proj: base.numKvHeads * base.headDim,
				v_proj: base.numKvHeads * base.headDim,
				o_proj: base.hiddenSize,
			},
			routers: ready ? ready.routers : (l) => pending!.layer(l),
			keptRouterRows: kept,
			...(resolved.keptSharedExpert && { keptSharedExpert: { source: resolved.keptSharedExpert.source, width: resolved.keptSharedExpert.slots * base.intermediateSize, name: viewSharedName } }),
			sharedExperts: sharedExpertsOf(resolved, ready ? ready.sharedGates : (l) => pending!.sharedLayer(l)),
		});
		const shards = planShards(
			tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
			shardSize,
		);
		const config = resolved.architecture.deriveConfig({
			base,
			numExperts: recipe.experts.length,
			expertsPerToken: resolved.expertsPerToken,
			sharedExperts: resolved.keptSharedExpert?.slots ?? recipe.sharedExperts.length,
			dtype: torchDTypeName(resolved.dtype),
			training: {
				outputRouterLogits: options.training?.outputRouterLogits ?? recipe.training.outputRouterLogits,
				routerAuxLossCoef: options.training?.routerAuxLossCoef ?? recipe.training.routerAuxLossCoef,
			},
		});
		const dataBytes = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * dtypeBytes(t.dtype), 0);
		const fileBytes = shards.reduce((sum, s) => sum + s.headerBytes + s.dataBytes, 0);
		const warnings = [...resolved.warnings, ...(ready?.warnings ?? [])];
		const gates = ready ? { gates: ready.gates, sharedGates: ready.sharedGates } : { pendingGates: pending };
		return { ...resolved, warnings, layout, seed, shardSize, weights, config, tensors, shards, dataBytes, fileBytes, inputStamps, ...gates, loras };
	} catch (error) {
		await Promise.all(weights.map((w) => w.close()));
		await loras?.close();
		throw error;
	}
}

/** The recipe's shared experts for the tensor plan, and their gate rows (used when the output architecture gates them). */
function sharedExpertsOf(resolved: ResolvedRecipe, gates: LayerValues | undefined): TensorPlanInput["sharedExperts"] {
	const specs = resolved.recipe.sharedExperts;
	if (specs.length === 0 || !resolved.architecture.sharedExpertNames) return undefined;
	const experts = specs.map((spec, i) => ({ source: resolved.sharedExperts[i], noiseScale: spec.noiseScale, residualScale: spec.residualScale }));
	return { experts, gates };
}

/** A source's weights as the plan reads them: a dense model's as they are, an MoE's seen as a dense model (with its routers, for kept rows). */
async function openSource(model: ResolvedModel): Promise<ModelWeights> {
	const weights = await ModelWeights.open(model.dir, model.weightFiles);
	if (!model.moe) return weights;
	try {
		return denseViewOfMoe(model.moe.spec, weights, model.moe.expert, { moeParts: true });
	} catch (error) {
		await weights.close();
		throw error;
	}
}

export async function closeMergePlan(plan: MergePlan): Promise<void> {
	await Promise.all(plan.weights.map((w) => w.close()));
	await plan.loras?.close();
}
