import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { GateSummary } from "../gates/index.js";
import type { Recipe } from "../recipe/index.js";
import { stringifyConfig } from "../output/config-json.js";
import { copyBaseFiles } from "../output/copy-base-files.js";
import { describeCardSource } from "../output/card-sources.js";
import { type ExpertOrigin, expertOrigins } from "./expert-origins.js";
import { renderModelCard } from "../output/model-card.js";
import { checkOutputTarget } from "../output/output-target.js";
import { adoptStagingDir, createStagingDir } from "../resume/staging-dir.js";
import type { ResumeJournal, ResumeRecord } from "../resume/resume-record.js";
import { findAbandonedPartials } from "../resume/abandoned-partials.js";
import { keepForResume } from "../resume/keep-partial.js";
import { describeOutputFailure } from "../output/output-write-error.js";
import { localModelDirs } from "../output/protect-inputs.js";
import { checkMergedOutput } from "../verify/index.js";
import { encodeIndex } from "../safetensors/index.js";
import { VERSION } from "../version.js";
import { checkRecipeLock, hashInputs, updateRecipeLock, writeOutputLock } from "./merge-lock-steps.js";
import { assertInputsUnchanged } from "../inputs/input-stamps.js";
import { type MergePlan, type PlanMergeOptions, closeMergePlan, planMerge } from "./plan-merge.js";
import { describeJob, withInputHashes } from "../resume/resume-identity.js";
import { removeRouterValues } from "../resume/recorded-routers.js";
import { startResume } from "../resume/resume-start.js";
import { writeWhileGating } from "./write-while-gating.js";
import { type MergeGgufFile, MergeGgufWriters, type WrittenGguf, planMergeGguf } from "./merge-gguf.js";
import type { GgufTypeName } from "../gguf/tensor-types.js";
import type { WriteProgress } from "./write-shards.js";
import type { ShardSink } from "./write-while-gating.js";
import { type ResumeCandidate, type ResumeOutcome, chooseCandidate, findResumeCandidates } from "../resume/resume-partial.js";

export interface MergeOptions extends PlanMergeOptions {
	outputDir: string;
	overwrite?: boolean;
	/** Copy the base model's tokenizer files (default true). */
	copyTokenizer?: boolean;
	onProgress?: (progress: WriteProgress) => void;
	/**
	 * Called once the plan is made, before anything is written (warnings, sizes); a rejection stops the
	 * merge there. `keptShards`: with `resume`, the shards the interrupted merge completed (kept unless
	 * their check fails).
	 */
	onPlan?: (plan: MergePlan, keptShards: ReadonlySet<string>) => void | Promise<void>;
	/** Called once the routers are known: with hidden-state gates, after the forward pass, which runs while the shards are written. */
	onGates?: (gates: GateSummary, warnings: string[]) => void;
	signal?: AbortSignal;
	/** Write or update `<recipe>.lock.json` beside the recipe, as the CLI does (never with `locked`; default false). */
	recipeLock?: boolean;
	/** The Hub repo the output will be pushed to: the model card's title and usage snippet. */
	repoId?: string;
	/** Runs on the complete staging folder before the lock is written and it is renamed into place (the routing report); returns the files it wrote. */
	beforeCommit?: (stagingDir: string) => Promise<string[]>;
	/**
	 * Continue the staging folder a killed merge of the same recipe, inputs and options left beside the
	 * output: its complete shards are kept when their sha256 is still the recorded one, the rest is
	 * written again. Without such a folder the merge starts from the beginning; with only folders of
	 * other jobs it is refused with the reasons. Without `seed`, the interrupted merge's seed is used.
	 */
	resume?: boolean;
	/** With `resume`, once the folder is taken over and its shards checked (or nothing was found). */
	onResume?: (outcome: ResumeOutcome) => void;
	/** The command line of this merge, recorded so the report of an abandoned folder can say how to resume it. */
	command?: ResumeRecord["command"];
	/**
	 * When `signal` aborts the merge, keep the staging folder's complete shards (fsynced) and its resume
	 * record, so that `resume` continues it (what the CLI does on SIGTERM and SIGINT); by default the
	 * folder is removed like after any other failure.
	 */
	keepOnAbort?: boolean;
	/**
	 * GGUF files to write beside the shards from the same stream, one per type (`<output name>-<TYPE>.gguf`),
	 * each byte for byte what `moe-merge gguf` makes of the output. A resumed merge keeps a file the
	 * interrupted one completed (same plan, size, header and sha256), and writes the others from the
	 * finished shards when it kept shards.
	 */
	gguf?: GgufTypeName[];
	/** Called with the GGUF files planned (names, sizes), before writing. */
	onGgufPlan?: (files: MergeGgufFile[]) => void;
	/** A merge streamed to the Hub (run-stream-merge.ts): takes each shard as it is finished; the folder needs room for two shards. */
	shardSink?: ShardSink;
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
	/** With `resume`: the folder continued and the shards kept. */
	resumed?: ResumeOutcome;
	/** The GGUF files written (`gguf`), in the output folder. */
	gguf?: WrittenGguf[];
}

/** The saved copy of the recipe beside the model. */
export const RECIPE_FILE_NAME = "moe-merge-recipe.yml";

/**
 * Plans the merge (every model found and checked), then streams all tensors into a staging folder
 * beside the output, writes config, tokenizer, index and model card, and renames it into place.
 * On any failure the staging folder is removed, so no half-written output remains (an aborted merge
 * with `keepOnAbort` keeps it, hidden and resumable).
 */
export async function runMerge(recipe: Recipe, options: MergeOptions): Promise<MergeResult> {
	const started = performance.now();
	await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, inputs: localModelDirs(recipe) });
	const { candidates, removedEmpty } = options.resume ? await findResumeCandidates(options.outputDir) : { candidates: [], removedEmpty: [] };
	// A resumed merge draws no seed of its own: the interrupted one's (an explicit seed must be that one).
	const seed = options.seed ?? candidates[0]?.record.options.seed;
	// Hub models are resolved (and downloaded) inside planMerge; `signal` stops downloads too.
	const plan = await planMerge(recipe, { ...options, seed, hiddenGates: "defer", hub: { ...options.hub, signal: options.hub?.signal ?? options.signal } });
	try {
		const job = await describeJob(plan, { command: options.command });
		// Every input by its label (base+lora adapters are inputs of their own), for the resume check.
		const inputDirs = plan.models.flatMap((m) => [[m.label, m.dir] as const, ...(m.adapter ? [[m.adapter.label, m.adapter.dir] as const] : [])]);
		const candidate = await chooseCandidate(candidates, job, new Map(inputDirs));
		// What llama.cpp cannot take is refused here, before anything is written.
		const ggufFiles = await planMergeGguf(plan, options.outputDir, options.gguf ?? [], { copyTokenizer: options.copyTokenizer !== false });
		const ggufBytes = ggufFiles.reduce((sum, f) => sum + f.layout.fileBytes, 0);
		// What the taken-over folder already holds: its complete shards, and the GGUF files still planned.
		const planned = new Set(ggufFiles.map((f) => f.fileName));
		const kept = [...(candidate?.record.complete ?? []), ...(candidate?.record.gguf ?? []).filter((g) => planned.has(g.name)).map((g) => ({ size: g.bytes }))].reduce((sum, c) => sum + c.size, 0);
		// Folders killed merges left (all but the one resumed) take room the user may want to free.
		const leftovers = (await findAbandonedPartials(options.outputDir)).filter((p) => p.path !== candidate?.path);
		const requiredBytes = options.shardSink ? options.shardSink.requiredBytes(plan.shards) : plan.fileBytes + ggufBytes - kept;
		await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, requiredBytes, leftovers, inputs: inputDirs.map(([, dir]) => dir) });
		await options.onPlan?.(plan, new Set((candidate?.record.complete ?? []).map((c) => c.name)));
		if (ggufFiles.length > 0) options.onGgufPlan?.(ggufFiles);
		// Inputs are hashed for the lock on other cores while the output is written; --locked needs them first.
		const hashing = hashInputs(plan, { copyTokenizer: options.copyTokenizer !== false });
		if (options.locked) await checkRecipeLock(plan, await hashing.sources);
		const staging = candidate ? await adoptStagingDir(options.outputDir, candidate.path, { overwrite: options.overwrite }) : await createStagingDir(options.outputDir, { overwrite: options.overwrite });
		// Set once the resume record is written: what an aborted merge can keep.
		let journal: ResumeJournal | undefined;
		let gguf: MergeGgufWriters | undefined;
		try {
			const resume = await startResume(staging.path, job, candidate, removedEmpty, options.signal, options.shardSink?.storedElsewhere);
			journal = resume.journal;
			const nothingToResume = options.resume && !candidate ? { kept: [], rejected: [], shards: job.shards.length, removedEmpty } : undefined;
			if (nothingToResume) options.onResume?.(nothingToResume);
			// Once the inputs are hashed, a later resume can recognise an input copied or touched since.
			hashing.sources.then((sources) => resume.journal.update((r) => withInputHashes(r, sources))).catch(() => {});
			// Also without --gguf: GGUF files a resumed merge's record names are then removed.
			gguf = await MergeGgufWriters.open(staging.path, ggufFiles, resume.journal, options.signal);
			const tap = ggufFiles.length > 0 ? gguf.tap : undefined;
			const { shardHashes, gates, gateWarnings, resumed } = await writeWhileGating(plan, staging.path, { ...options, tap }, resume);
			options.onGates?.(gates, gateWarnings);
			const written = await gguf.finish();
			const warnings = [...plan.warnings, ...gateWarnings, ...new Set(ggufFiles.flatMap((f) => f.plan.warnings.map((w) => `GGUF: ${w}`)))];
			const files = await writeSideFiles(plan, staging.path, options, warnings, written);
			files.push(...written.map((g) => g.file));
			const hashes = new Map([...shardHashes, ...written.map((g) => [g.file, g.sha256] as const)]);
			await checkMergedOutput(staging.path);
			if (options.beforeCommit) files.push(...(await options.beforeCommit(staging.path)));
			const sources = await hashing.sources;
			files.push(await writeOutputLock(staging.path, plan, sources, hashes));
			await assertInputsUnchanged(plan.inputStamps);
			await staging.commit(async () => {
				await resume.journal.remove();
				await removeRouterValues(staging.path);
			});
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
				gates,
				...((resumed ?? nothingToResume) && { resumed: resumed ?? nothingToResume }),
				...(written.length > 0 && { gguf: written }),
			};
		} catch (error) {
			hashing.cancel();
			await gguf?.abort();
			if (!(options.keepOnAbort && options.signal?.aborted && (await keepAborted(staging.path, journal, candidate)))) await staging.discard();
			throw describeOutputFailure(error);
		}
	} finally {
		await closeMergePlan(plan);
	}
}

/**
 * What an aborted merge keeps: its resume record's complete shards; or, stopped while taking over a
 * killed merge's folder (before its own record), that folder as it was, still resumable.
 */
async function keepAborted(dir: string, journal: ResumeJournal | undefined, candidate: ResumeCandidate | undefined): Promise<boolean> {
	return journal ? keepForResume(dir, journal) : candidate !== undefined;
}

async function writeSideFiles(plan: MergePlan, dir: string, options: MergeOptions, warnings: string[], gguf: readonly WrittenGguf[]): Promise<string[]> {
	const written = ["config.json", RECIPE_FILE_NAME, "README.md"];
	await writeFile(join(dir, "config.json"), stringifyConfig(plan.config));
	if (plan.shards.length > 1) {
		await writeFile(join(dir, "model.safetensors.index.json"), encodeIndex(plan.shards));
		written.push("model.safetensors.index.json");
	}
	const base = plan.models[plan.base];
	written.push(...(await copyBaseFiles(base.dir, dir, { tokenizer: options.copyTokenizer !== false })));
	await writeFile(join(dir, RECIPE_FILE_NAME), plan.recipe.text);
	const origins = expertOrigins(plan);
	const card = renderModelCard({
		sources: await Promise.all([
			describeCardSource({ ...sourceOf(plan, plan.base), role: "base" }),
			...plan.experts.map((m, e) => describeCardSource({ ...sourceOf(plan, m), role: cardRole(e, origins[e]!) })),
		]),
		architecture: plan.architecture.displayName,
		remoteCode: plan.architecture.remoteCode,
		numExperts: plan.experts.length,
		expertsPerToken: plan.expertsPerToken,
		gateMode: plan.recipe.gateMode,
		seed: plan.seed,
		dtype: String(plan.config.torch_dtype),
		layout: plan.layout,
		recipeText: plan.recipe.text,
		recipeFileName: basename(plan.recipe.file),
		toolVersion: VERSION,
		warnings,
		repoId: options.repoId,
		tokenizer: options.copyTokenizer !== false,
		gguf: gguf.map(({ file, type, bytes }) => ({ file, type, bytes })),
	});
	await writeFile(join(dir, "README.md"), card);
	return written;
}

function sourceOf(plan: MergePlan, index: number): { label: string; dir: string; commit?: string; hubRepo?: string; config: Record<string, unknown> } {
	const model = plan.models[index];
	return { label: model.label, dir: model.dir, commit: model.commit, hubRepo: model.ref.kind === "hub" ? model.ref.repo : undefined, config: model.config.raw };
}

/** The card's role column: an expert taken from an MoE says which of its experts, and whether its router row was kept. */
function cardRole(e: number, origin: ExpertOrigin): string {
	return origin.moeExpert === undefined ? `expert ${e}` : `expert ${e} (its expert ${origin.moeExpert}, router row ${origin.router})`;
}
