import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { GateSummary } from "../gates/index.js";
import type { Recipe } from "../recipe/index.js";
import { stringifyConfig } from "../output/config-json.js";
import { copyBaseFiles } from "../output/copy-base-files.js";
import { renderModelCard } from "../output/model-card.js";
import { checkOutputTarget, createStagingDir } from "../output/staging-dir.js";
import { describeOutputFailure } from "../output/output-write-error.js";
import { localModelDirs } from "../output/protect-inputs.js";
import { checkMergedOutput } from "../verify/index.js";
import { encodeIndex } from "../safetensors/index.js";
import { VERSION } from "../version.js";
import type { HubOptions } from "../hub/hub-options.js";
import { withHubOptions } from "../hub/hub-session.js";
import { checkRecipeLock, hashInputs, updateRecipeLock, writeOutputLock } from "../hub/merge-lock-steps.js";
import { assertInputsUnchanged } from "./input-stamps.js";
import { type MergePlan, type PlanMergeOptions, closeMergePlan, planMerge } from "./plan-merge.js";
import { type WriteProgress, writeShards } from "./write-shards.js";

export interface MergeOptions extends PlanMergeOptions {
	outputDir: string;
	overwrite?: boolean;
	/** Copy the base model's tokenizer files (default true). */
	copyTokenizer?: boolean;
	onProgress?: (progress: WriteProgress) => void;
	/** Called once the plan is made, before writing (warnings, sizes). */
	onPlan?: (plan: MergePlan) => void;
	signal?: AbortSignal;
	/** How Hub models are found and downloaded (token, endpoint, offline, progress); default from the environment. */
	hub?: HubOptions;
	/** Refuse to merge when a source resolves differently from the lock beside the recipe (`<recipe>.lock.json`). */
	locked?: boolean;
	/** Write or update `<recipe>.lock.json` beside the recipe, as the CLI does (never with `locked`; default false). */
	recipeLock?: boolean;
}

export interface MergeResult {
	outputDir: string;
	architecture: string;
	numExperts: number;
	seed: number;
	dtype: string;
	layout: string;
	shards: string[];
	tensors: number;
	bytes: number;
	seconds: number;
	warnings: string[];
	files: string[];
	/** Each source as used: the recipe's reference and, for Hub models, the commit. */
	sources: { role: string; ref: string; commit?: string }[];
	/** The lock beside the recipe, when this merge wrote or updated it. */
	recipeLockFile?: string;
	/** Gate mode and per-layer condition number and min/max cosine between router rows. */
	gates: GateSummary;
}

/** The saved copy of the recipe beside the model. */
export const RECIPE_FILE_NAME = "moe-merge-recipe.yml";

/**
 * Plans the merge (every model found and checked), then streams all tensors into a staging folder
 * beside the output, writes config, tokenizer, index and model card, and renames it into place.
 * On any failure the staging folder is removed, so no half-written output remains.
 */
export async function runMerge(recipe: Recipe, options: MergeOptions): Promise<MergeResult> {
	const started = performance.now();
	await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, inputs: localModelDirs(recipe) });
	// Hub models are resolved (and downloaded) inside planMerge, with these options.
	const plan = await withHubOptions({ ...options.hub, signal: options.hub?.signal ?? options.signal }, () => planMerge(recipe, options));
	try {
		await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, requiredBytes: plan.fileBytes + 50_000_000, inputs: plan.models.map((m) => m.dir) });
		options.onPlan?.(plan);
		// Inputs are hashed for the lock on other cores while the output is written; --locked needs them first.
		const hashing = hashInputs(plan, { copyTokenizer: options.copyTokenizer !== false });
		if (options.locked) await checkRecipeLock(plan, await hashing.sources);
		const staging = await createStagingDir(options.outputDir, { overwrite: options.overwrite });
		try {
			const shardHashes = await writeShards({
				dir: staging.path,
				tensors: plan.tensors,
				shards: plan.shards,
				sources: plan.weights,
				seed: plan.seed,
				onProgress: options.onProgress,
				signal: options.signal,
			});
			const files = await writeSideFiles(plan, staging.path, options);
			await checkMergedOutput(staging.path);
			const sources = await hashing.sources;
			files.push(await writeOutputLock(staging.path, plan, sources, shardHashes));
			await assertInputsUnchanged(plan.inputStamps);
			await staging.commit();
			const warnings = [...plan.warnings];
			let recipeLockFile: string | undefined;
			if (options.recipeLock && !options.locked) {
				recipeLockFile = await updateRecipeLock(plan, sources).catch((error: Error) => {
					warnings.push(`could not write the lock beside the recipe: ${error.message}`);
					return undefined;
				});
			}
			return {
				outputDir: staging.target,
				architecture: plan.architecture.displayName,
				numExperts: recipe.experts.length,
				seed: plan.seed,
				dtype: String(plan.config.torch_dtype),
				layout: plan.layout,
				shards: plan.shards.map((s) => s.fileName),
				tensors: plan.tensors.length,
				bytes: plan.fileBytes,
				seconds: (performance.now() - started) / 1000,
				warnings,
				files: [...plan.shards.map((s) => s.fileName), ...files].sort(),
				sources: sources.map(({ role, ref, commit }) => ({ role, ref, ...(commit && { commit }) })),
				recipeLockFile,
				gates: plan.gates,
			};
		} catch (error) {
			hashing.cancel();
			await staging.discard();
			throw describeOutputFailure(error);
		}
	} finally {
		await closeMergePlan(plan);
	}
}

async function writeSideFiles(plan: MergePlan, dir: string, options: MergeOptions): Promise<string[]> {
	const written = ["config.json", RECIPE_FILE_NAME, "README.md"];
	await writeFile(join(dir, "config.json"), stringifyConfig(plan.config));
	if (plan.shards.length > 1) {
		await writeFile(join(dir, "model.safetensors.index.json"), encodeIndex(plan.shards));
		written.push("model.safetensors.index.json");
	}
	const base = plan.models[plan.base];
	written.push(...(await copyBaseFiles(base.dir, dir, { tokenizer: options.copyTokenizer !== false })));
	await writeFile(join(dir, RECIPE_FILE_NAME), plan.recipe.text);
	const card = renderModelCard({
		sources: [
			{ ...sourceOf(plan, plan.base), role: "base" },
			...plan.experts.map((m, e) => ({ ...sourceOf(plan, m), role: `expert ${e}` })),
		],
		architecture: plan.architecture.displayName,
		numExperts: plan.experts.length,
		expertsPerToken: plan.recipe.expertsPerToken,
		gateMode: plan.recipe.gateMode,
		seed: plan.seed,
		dtype: String(plan.config.torch_dtype),
		layout: plan.layout,
		recipeText: plan.recipe.text,
		recipeFileName: basename(plan.recipe.file),
		toolVersion: VERSION,
		warnings: plan.warnings,
	});
	await writeFile(join(dir, "README.md"), card);
	return written;
}

function sourceOf(plan: MergePlan, index: number): { label: string; commit?: string; hubRepo?: string } {
	const model = plan.models[index];
	return { label: model.label, commit: model.commit, hubRepo: model.ref.kind === "hub" ? model.ref.repo : undefined };
}
