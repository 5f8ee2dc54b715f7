/**
 * `moe-merge apply-lora`: folds peft LoRA adapters into a checkpoint (dense or MoE, either expert layout),
 * streamed tensor by tensor into a new folder with a merge's guarantees: staging folder renamed into
 * place when complete, verify's checks, lock with every input and output file's sha256, model card.
 * Untouched tensors are copied byte for byte; each edited one is computed in float32 a block of rows at
 * a time and rounded once to the checkpoint's dtype.
 */
import { copyFile, readFile, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { ModelError } from "../errors.js";
import type { HubAccess } from "../hub/hub-context.js";
import { ComputeEngine } from "../kernels/index.js";
import { LOCK_FILE_NAME, type LockModel, lockFolderFiles, lockSources, writeLock } from "../lock/index.js";
import type { LinearBackend } from "../model/linear-backend.js";
import { checkOutputTarget } from "../output/output-target.js";
import { adoptStagingDir, createStagingDir } from "../resume/staging-dir.js";
import { copyBaseFiles } from "../output/copy-base-files.js";
import { describeOutputFailure } from "../output/output-write-error.js";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import { type DType, type FloatDType, ModelWeights, type ShardPlan, encodeIndex, isFloatDType, planShards, torchDTypeName } from "../safetensors/index.js";
import { type WriteProgress, writeShards } from "./write-shards.js";
import { checkMergedOutput } from "../verify/index.js";
import { sha256Hex } from "../util/sha256.js";
import { VERSION } from "../version.js";
import { ADAPTER_FILES } from "../checkpoint/side-files.js";
import { ADAPTER_CONFIG_FILE } from "../lora/adapter-config.js";
import { type LoraAdapter, closeAdapter, openAdapter } from "../lora/adapter-files.js";
import { renderLoraCard } from "../lora/lora-card.js";
import { applyAdapters } from "../lora/lora-weights.js";
import { baseModelMismatch } from "../lora/base-model-check.js";
import type { ResumeJournal, ResumeRecord } from "../resume/resume-record.js";
import { describeJob, recordAdapterInput, withInputHashes } from "../resume/resume-identity.js";
import { type ResumeCandidate, type ResumeOutcome, chooseCandidate, findResumeCandidates } from "../resume/resume-partial.js";
import { findAbandonedPartials } from "../resume/abandoned-partials.js";
import { startResume } from "../resume/resume-start.js";
import { keepForResume } from "../resume/keep-partial.js";
import { type ApplyLoraInput, resolveApplyLoraInputs } from "./apply-lora-inputs.js";
import { writeKeepingClaimed } from "./write-keeping-claimed.js";

export interface ApplyLoraOptions {
	/** The checkpoint: a folder, or a Hub repo `org/name[@revision]`. */
	model: string;
	/** The adapters, applied in this order: folders or Hub repos. */
	adapters: string[];
	outputDir: string;
	overwrite?: boolean;
	/** Bytes per output shard (default 5 GB). */
	shardSize?: number;
	/** dtype of the float tensors written (default: each tensor's own); config.json's torch_dtype follows. */
	dtype?: FloatDType;
	/** An adapter made for another model (base_model_name_or_path) is an error instead of a warning. */
	locked?: boolean;
	/** The GEMM backend for B·A (default: the WebAssembly kernels on worker threads). */
	backend?: LinearBackend;
	threads?: number;
	/** Hub access for inputs named org/name (token, endpoint, cache, offline); default: the environment's. */
	hub?: HubAccess;
	onProgress?: (progress: WriteProgress) => void;
	onWarning?: (warning: string) => void;
	signal?: AbortSignal;
	/** The Hub repo the output will be pushed to (model card title). */
	repoId?: string;
	/**
	 * Continue the staging folder a killed apply-lora of the same model, adapters and options left
	 * beside the output (its complete shards kept when their sha256 is still the recorded one), as a
	 * merge's --resume does; other jobs' folders make it refuse with the reasons.
	 */
	resume?: boolean;
	/** With `resume`, once the folder is taken over and its shards checked (or nothing was found). */
	onResume?: (outcome: ResumeOutcome) => void;
	/** The command line, recorded so an abandoned folder's report can say how to resume it (default: one built from the options). */
	command?: ResumeRecord["command"];
	/** When `signal` aborts, keep the complete shards and the resume record for `resume` (the CLI on SIGTERM and SIGINT). */
	keepOnAbort?: boolean;
}

export interface ApplyLoraResult {
	outputDir: string;
	tensors: number;
	editedTensors: number;
	bytes: number;
	shards: string[];
	seconds: number;
	warnings: string[];
	/** Each input as used: its reference and, for Hub repos, the commit. */
	sources: { role: string; ref: string; commit?: string }[];
	/** With `resume`: the folder continued and the shards kept. */
	resumed?: ResumeOutcome;
}

const DEFAULT_SHARD_BYTES = 5_000_000_000;
const MAX_CONFIG_BYTES = 16 << 20;

export async function applyLora(options: ApplyLoraOptions): Promise<ApplyLoraResult> {
	const started = performance.now();
	const resolved = await resolveApplyLoraInputs(options.model, options.adapters, options.hub ? { ...options.hub, signal: options.hub.signal ?? options.signal } : { signal: options.signal });
	const modelDir = resolved.model.dir;
	const inputs = [modelDir, ...resolved.adapters.map((a) => a.dir)];
	await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, inputs });
	const { candidates, removedEmpty } = options.resume ? await findResumeCandidates(options.outputDir) : { candidates: [], removedEmpty: [] };
	const config = await readModelConfig(modelDir);
	const weights = await ModelWeights.open(modelDir);
	const adapters: LoraAdapter[] = [];
	let engine: ComputeEngine | undefined;
	try {
		for (const a of resolved.adapters) adapters.push(await openAdapter(a.dir, a.label));
		const warnings = baseModelWarnings(adapters, config, options.model, options.locked === true);
		for (const w of warnings) options.onWarning?.(w);
		const backend = options.backend ?? (engine = await ComputeEngine.create({ threads: options.threads }));
		const adapted = await applyAdapters(weights, adapters, backend, { tiedHead: config.tie_word_embeddings === true, writtenAs: (stored) => writtenDtype(stored, options.dtype) });
		const tensors = weights.names().map((name) => plannedTensor(weights, name, options.dtype));
		const shardSize = options.shardSize ?? DEFAULT_SHARD_BYTES;
		const shards = planShards(tensors, shardSize, { format: "pt" });
		const bytes = shards.reduce((sum, s) => sum + s.dataBytes + s.headerBytes, 0);
		const job = await describeApplyLoraJob(resolved, weights, shards, shardSize, options);
		const candidate = await chooseCandidate(candidates, job, new Map([resolved.model, ...resolved.adapters].map((i) => [i.label, i.dir])));
		const kept = candidate?.record.complete.reduce((sum, c) => sum + c.size, 0) ?? 0;
		const leftovers = (await findAbandonedPartials(options.outputDir)).filter((p) => p.path !== candidate?.path);
		await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, requiredBytes: bytes - kept, leftovers, inputs });
		// The inputs are hashed for the lock on other cores while the output is written.
		const hashing = new AbortController();
		const sources = lockSources(...lockInputs(resolved, weights), { signal: hashing.signal });
		sources.catch(() => {});
		const staging = candidate ? await adoptStagingDir(options.outputDir, candidate.path, { overwrite: options.overwrite }) : await createStagingDir(options.outputDir, { overwrite: options.overwrite });
		let journal: ResumeJournal | undefined;
		try {
			const resume = await startResume(staging.path, job, candidate, removedEmpty, options.signal);
			journal = resume.journal;
			const nothingToResume = options.resume && !candidate ? { kept: [], rejected: [], shards: shards.length, removedEmpty } : undefined;
			if (nothingToResume) options.onResume?.(nothingToResume);
			// Once the inputs are hashed, a later resume can recognise an input copied or touched since.
			sources.then((s) => resume.journal.update((r) => withInputHashes(r, s))).catch(() => {});
			const write = (done: ReadonlyMap<string, string>) =>
				writeShards({
					dir: staging.path,
					tensors,
					shards,
					sources: [adapted.weights],
					seed: 0,
					onProgress: options.onProgress,
					signal: options.signal,
					done,
					// The shard is fsynced by now: the record may name it.
					onShardWritten: (shard, sha256) => resume.journal.shardDone(shard.fileName, shard.headerBytes + shard.dataBytes, sha256),
				});
			const { hashes: shardHashes, resumed } = await writeKeepingClaimed(resume, write, { onResume: options.onResume });
			if (options.dtype) await writeFile(join(staging.path, "config.json"), `${JSON.stringify(withTorchDtype(config, options.dtype), null, 2)}\n`);
			else await copyFile(join(modelDir, "config.json"), join(staging.path, "config.json"));
			if (shards.length > 1) await writeFile(join(staging.path, "model.safetensors.index.json"), encodeIndex(shards));
			await copyBaseFiles(modelDir, staging.path, { tokenizer: true });
			await writeFile(join(staging.path, "README.md"), renderLoraCard({ model: options.model, config, adapters, repoId: options.repoId, toolVersion: VERSION, edited: adapted.edited.length, warnings }));
			await checkMergedOutput(staging.path);
			const locked = await sources;
			const files = await lockFolderFiles(staging.path, LOCK_FILE_NAME, options.signal, shardHashes);
			await writeLock(join(staging.path, LOCK_FILE_NAME), {
				lockfileVersion: 1,
				tool: `moe-merge ${VERSION}`,
				recipe: { file: "apply-lora", sha256: sha256Hex(job.recipe.text) },
				sources: locked,
				output: { files },
			});
			await staging.commit(() => resume.journal.remove());
			return {
				outputDir: staging.target,
				tensors: tensors.length,
				editedTensors: adapted.edited.length,
				bytes,
				shards: shards.map((s) => s.fileName),
				seconds: (performance.now() - started) / 1000,
				warnings,
				sources: locked.map(({ role, ref, commit }) => ({ role, ref, ...(commit && { commit }) })),
				...((resumed ?? nothingToResume) && { resumed: resumed ?? nothingToResume }),
			};
		} catch (error) {
			hashing.abort();
			if (!(options.keepOnAbort && options.signal?.aborted && (await keepAborted(staging.path, journal, candidate)))) await staging.discard();
			throw describeOutputFailure(error);
		}
	} finally {
		await engine?.close();
		for (const adapter of adapters) await closeAdapter(adapter);
		await weights.close();
	}
}

/** What an aborted run keeps: its record's complete shards; or, stopped while taking over a killed run's folder, that folder. */
async function keepAborted(dir: string, journal: ResumeJournal | undefined, candidate: ResumeCandidate | undefined): Promise<boolean> {
	return journal ? keepForResume(dir, journal) : candidate !== undefined;
}

/**
 * What identifies an apply-lora job for --resume: in place of a recipe, a text naming the model, the
 * adapters in order and the dtype (the shard size and the planned shards are recorded as for a merge),
 * and every input file with its stamp (the lock's sha256 added once computed).
 */
async function describeApplyLoraJob(resolved: { model: ApplyLoraInput; adapters: ApplyLoraInput[] }, weights: ModelWeights, shards: ShardPlan[], shardSize: number, options: ApplyLoraOptions): Promise<ResumeRecord> {
	const text = ["apply-lora", `model: ${resolved.model.label}`, ...resolved.adapters.map((a) => `adapter: ${a.label}`), `dtype: ${options.dtype ?? "each tensor's own"}`, ""].join("\n");
	const command = options.command ?? { cwd: process.cwd(), argv: ["apply-lora", options.model, ...options.adapters, "-o", options.outputDir] };
	const job = await describeJob(
		{ recipe: { file: "apply-lora", text }, seed: 0, layout: "as stored", shardSize, shards, models: [resolved.model], weights: [weights], base: 0 },
		{ command },
	);
	for (const adapter of resolved.adapters) job.inputs.push(await recordAdapterInput(adapter));
	return job;
}

/** The lock's sources: the model (weights, config, side files copied) and each adapter's two files. */
function lockInputs(resolved: { model: ApplyLoraInput; adapters: ApplyLoraInput[] }, weights: ModelWeights): [LockModel[], { role: string; model: number }[]] {
	const { model, adapters } = resolved;
	const models: LockModel[] = [
		{ ref: model.label, hub: model.hub, commit: model.commit, dir: model.dir, weightFiles: weights.shards().map((f) => basename(f.path)), sideFiles: true },
		...adapters.map((a): LockModel => ({ ref: a.label, hub: a.hub, commit: a.commit, dir: a.dir, weightFiles: [], sideFiles: false, files: ADAPTER_FILES })),
	];
	return [models, [{ role: "model", model: 0 }, ...adapters.map((_, i) => ({ role: `adapter ${i}`, model: i + 1 }))]];
}

/** Every tensor copied from the (adapted) weights, in the dtype asked for (float tensors) or its own: each edited one rounded once to it. */
function plannedTensor(original: ModelWeights, name: string, dtype: FloatDType | undefined): PlannedTensor {
	const { info } = original.get(name);
	return { name, dtype: writtenDtype(info.dtype, dtype), shape: [...info.shape], parts: [{ kind: "copy", source: 0, name }] };
}

function writtenDtype(stored: DType, asked: FloatDType | undefined): DType {
	return asked && isFloatDType(stored) ? asked : stored;
}

/** The config with the dtype written (both spellings transformers reads, when present). */
function withTorchDtype(config: Record<string, unknown>, dtype: FloatDType): Record<string, unknown> {
	const name = torchDTypeName(dtype);
	return { ...config, torch_dtype: name, ...("dtype" in config && { dtype: name }) };
}

async function readModelConfig(dir: string): Promise<Record<string, unknown>> {
	const file = join(dir, "config.json");
	const info = await stat(file).catch(() => undefined);
	if (!info?.isFile()) throw new ModelError(`${dir}: no config.json`, { file });
	if (info.size > MAX_CONFIG_BYTES) throw new ModelError(`${file} is ${info.size} bytes: too big for a config`, { file });
	try {
		const raw = JSON.parse(await readFile(file, "utf8"));
		if (typeof raw === "object" && raw && !Array.isArray(raw)) return raw as Record<string, unknown>;
	} catch {}
	throw new ModelError(`${file} is not a JSON object`, { file });
}

/** Adapters made for another model: warnings, or with `locked` an error naming the first. */
function baseModelWarnings(adapters: readonly LoraAdapter[], config: Record<string, unknown>, model: string, locked: boolean): string[] {
	const warnings: string[] = [];
	for (const adapter of adapters) {
		const text = baseModelMismatch(adapter, { ref: model, config });
		if (!text) continue;
		if (locked) throw new ModelError(text, { file: join(adapter.dir, ADAPTER_CONFIG_FILE), hint: "apply it to the model it was made for, or leave out --locked to apply it anyway" });
		warnings.push(text);
	}
	return warnings;
}
