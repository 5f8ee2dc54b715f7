/**
 * `moe-merge apply-lora`: folds peft LoRA adapters into a checkpoint (dense or MoE, either expert layout),
 * streamed tensor by tensor into a new folder with a merge's guarantees: staging folder renamed into
 * place when complete, verify's checks, lock with every input and output file's sha256, model card.
 * Untouched tensors are copied byte for byte; each edited one is computed in float32 a block of rows at
 * a time and rounded once to the checkpoint's dtype.
 */
import { copyFile, readFile, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { ModelError } from "../errors.js";
import { ComputeEngine } from "../kernels/index.js";
import { LOCK_FILE_NAME, type LockedSource, lockFolderFiles, writeLock } from "../lock/index.js";
import { sha256Files } from "../lock/hash-files.js";
import type { LinearBackend } from "../model/linear-backend.js";
import { checkOutputTarget } from "../output/output-target.js";
import { createStagingDir } from "../resume/staging-dir.js";
import { copyBaseFiles } from "../output/copy-base-files.js";
import { describeOutputFailure } from "../output/output-write-error.js";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import { type FloatDType, ModelWeights, encodeIndex, isFloatDType, planShards, torchDTypeName } from "../safetensors/index.js";
import { type WriteProgress, writeShards } from "./write-shards.js";
import { checkMergedOutput } from "../verify/index.js";
import { sha256Hex } from "../util/sha256.js";
import { VERSION } from "../version.js";
import { ADAPTER_CONFIG_FILE } from "../lora/adapter-config.js";
import { ADAPTER_WEIGHTS_FILE, type LoraAdapter, closeAdapter, openAdapter } from "../lora/adapter-files.js";
import { renderLoraCard } from "../lora/lora-card.js";
import { applyAdapters } from "../lora/lora-weights.js";
import { baseModelMismatch } from "../lora/base-model-check.js";

export interface ApplyLoraOptions {
	model: string;
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
	onProgress?: (progress: WriteProgress) => void;
	onWarning?: (warning: string) => void;
	signal?: AbortSignal;
	/** The Hub repo the output will be pushed to (model card title). */
	repoId?: string;
}

export interface ApplyLoraResult {
	outputDir: string;
	tensors: number;
	editedTensors: number;
	bytes: number;
	shards: string[];
	seconds: number;
	warnings: string[];
}

const DEFAULT_SHARD_BYTES = 5_000_000_000;
const MAX_CONFIG_BYTES = 16 << 20;

export async function applyLora(options: ApplyLoraOptions): Promise<ApplyLoraResult> {
	const started = performance.now();
	const modelDir = resolve(options.model);
	const inputs = [modelDir, ...options.adapters.map((a) => resolve(a))];
	await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, inputs });
	const config = await readModelConfig(modelDir);
	const weights = await ModelWeights.open(modelDir);
	const adapters: LoraAdapter[] = [];
	let engine: ComputeEngine | undefined;
	try {
		for (const dir of options.adapters) adapters.push(await openAdapter(resolve(dir), dir));
		const warnings = baseModelWarnings(adapters, config, options.model, options.locked === true);
		for (const w of warnings) options.onWarning?.(w);
		const backend = options.backend ?? (engine = await ComputeEngine.create({ threads: options.threads }));
		const adapted = await applyAdapters(weights, adapters, backend, { tiedHead: config.tie_word_embeddings === true });
		const tensors = weights.names().map((name) => plannedTensor(weights, name, options.dtype));
		const shards = planShards(tensors, options.shardSize ?? DEFAULT_SHARD_BYTES, { format: "pt" });
		const bytes = shards.reduce((sum, s) => sum + s.dataBytes + s.headerBytes, 0);
		await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, requiredBytes: bytes, inputs });
		const staging = await createStagingDir(options.outputDir, { overwrite: options.overwrite });
		try {
			const shardHashes = await writeShards({ dir: staging.path, tensors, shards, sources: [adapted.weights], seed: 0, onProgress: options.onProgress, signal: options.signal });
			if (options.dtype) await writeFile(join(staging.path, "config.json"), `${JSON.stringify(withTorchDtype(config, options.dtype), null, 2)}\n`);
			else await copyFile(join(modelDir, "config.json"), join(staging.path, "config.json"));
			if (shards.length > 1) await writeFile(join(staging.path, "model.safetensors.index.json"), encodeIndex(shards));
			await copyBaseFiles(modelDir, staging.path, { tokenizer: true });
			await writeFile(join(staging.path, "README.md"), renderLoraCard({ model: options.model, config, adapters, repoId: options.repoId, toolVersion: VERSION, edited: adapted.edited.length, warnings }));
			await checkMergedOutput(staging.path);
			const sources = await lockInputs(modelDir, options.model, weights, adapters);
			const files = await lockFolderFiles(staging.path, LOCK_FILE_NAME, options.signal, shardHashes);
			const command = ["moe-merge apply-lora", options.model, ...options.adapters].join(" ");
			await writeLock(join(staging.path, LOCK_FILE_NAME), {
				lockfileVersion: 1,
				tool: `moe-merge ${VERSION}`,
				recipe: { file: "apply-lora", sha256: sha256Hex(command) },
				sources,
				output: { files },
			});
			await staging.commit();
		} catch (error) {
			await staging.discard();
			throw describeOutputFailure(error);
		}
		return {
			outputDir: staging.target,
			tensors: tensors.length,
			editedTensors: adapted.edited.length,
			bytes,
			shards: shards.map((s) => s.fileName),
			seconds: (performance.now() - started) / 1000,
			warnings,
		};
	} finally {
		await engine?.close();
		for (const adapter of adapters) await closeAdapter(adapter);
		await weights.close();
	}
}

/** Every tensor copied from the (adapted) weights: the edited ones are float32 rows rounded once to the tensor's own dtype. */
function plannedTensor(original: ModelWeights, name: string, dtype: FloatDType | undefined): PlannedTensor {
	const { info } = original.get(name);
	return { name, dtype: dtype && isFloatDType(info.dtype) ? dtype : info.dtype, shape: [...info.shape], parts: [{ kind: "copy", source: 0, name }] };
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

async function lockInputs(modelDir: string, modelRef: string, weights: ModelWeights, adapters: readonly LoraAdapter[]): Promise<LockedSource[]> {
	const modelFiles = ["config.json", ...weights.shards().map((f) => basename(f.path))];
	if (await stat(join(modelDir, "model.safetensors.index.json")).catch(() => undefined)) modelFiles.push("model.safetensors.index.json");
	const groups = [
		{ role: "model", ref: modelRef, dir: modelDir, files: [...new Set(modelFiles)].sort() },
		...adapters.map((a, i) => ({ role: `adapter ${i}`, ref: a.name, dir: a.dir, files: [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE] })),
	];
	const hashes = await sha256Files(groups.flatMap((g) => g.files.map((f) => join(g.dir, f))));
	const sources: LockedSource[] = [];
	for (const g of groups) {
		const files = [];
		for (const f of g.files) files.push({ path: f, size: (await stat(join(g.dir, f))).size, sha256: hashes.get(join(g.dir, f)) as string });
		sources.push({ role: g.role, ref: g.ref, kind: "local", files });
	}
	return sources;
}
