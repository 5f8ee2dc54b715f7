/**
 * `moe-merge gguf`: converts a checkpoint folder (a moe-merge or mergekit-moe MoE, or a dense Llama,
 * Mistral, Qwen2 or Qwen3) into one GGUF file llama.cpp runs. Everything that can be wrong (an
 * architecture or tokenizer llama.cpp cannot take, an unknown pre-tokenizer, a dtype that cannot be
 * converted, a tensor with no GGUF name) is found before the file is created; the file is written to a
 * temporary name in one pass and renamed into place once complete and fsynced.
 */
import { readFile, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { ModelError, OutputError } from "../errors.js";
import { ModelWeights } from "../safetensors/model-weights.js";
import type { GgufArchitecture } from "../gguf/architecture.js";
import { ggufArchitectureOf } from "./find-architecture.js";
import { GgufWriter } from "../gguf/gguf-writer.js";
import { hyperparameterEntries } from "../gguf/hyperparameters.js";
import { layoutGguf } from "../gguf/layout.js";
import { readGgufHeader } from "../gguf/read-gguf.js";
import { type GgufEntry, str, u32 } from "../gguf/metadata.js";
import { type GgufSourceTensors, type PlannedGgufTensor, planGgufTensors, sourceRowBytes } from "../gguf/plan-gguf.js";
import { GGUF_TENSOR_TYPES, type GgufTypeName } from "../gguf/tensor-types.js";
import { writeTensorsData } from "../gguf/tensor-data.js";
import { ComputeEngine } from "../kernels/engine.js";
import { tokenizerMetadata } from "../gguf/tokenizer/tokenizer-metadata.js";

type Json = Record<string, unknown>;

/** ggml's quantization format version (GGML_QUANT_VERSION), written by the converter in every file. */
const GGML_QUANT_VERSION = 2;

export interface GgufFileOptions {
	type: GgufTypeName;
	/** general.name; default: the folder's name. */
	name?: string;
	alignment?: number;
}

/** A GGUF file planned from a checkpoint: metadata, tensor table, and what llama.cpp computes differently. */
export interface GgufFilePlan {
	gguf: GgufArchitecture;
	metadata: GgufEntry[];
	tensors: PlannedGgufTensor[];
	warnings: string[];
}

async function readConfig(dir: string): Promise<Json> {
	const file = join(dir, "config.json");
	try {
		return JSON.parse(await readFile(file, "utf8")) as Json;
	} catch (error) {
		throw new ModelError(`${file}: cannot read the model's config (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { file, cause: error });
	}
}

/** What a merge knows before its folder exists: the config it will write, and where the tokenizer files it copies are. */
export interface GgufFileParts {
	config: Json;
	tokenizerDir: string;
	/** The tokenizer's metadata, read by the first plan and shared by the others (one per GGUF type of a merge). */
	tokenizer?: { entries?: Promise<GgufEntry[]> };
}

/**
 * Plans the file (reads config, headers and tokenizer; writes nothing). A merge passes `parts` (its
 * config, its base's tokenizer folder) and the shards it is about to write: the same plan as for the
 * folder once written.
 */
export async function planGgufFile(dir: string, weights: GgufSourceTensors, options: GgufFileOptions, parts?: GgufFileParts): Promise<GgufFilePlan> {
	const config = parts?.config ?? (await readConfig(dir));
	const modelType = String(config.model_type);
	const gguf = ggufArchitectureOf(modelType);
	if (!gguf) throw new ModelError(`${join(dir, "config.json")}: model_type ${modelType} has no GGUF description (GGUF is written for Mixtral, Qwen MoE, Qwen3 MoE, DeepSeek MoE, Llama, Mistral, Qwen2 and Qwen3)`, { file: join(dir, "config.json") });
	const refusal = gguf.unsupported?.(config);
	if (refusal) throw new ModelError(`${dir}: llama.cpp cannot run ${refusal}`, { file: dir });
	const type = GGUF_TENSOR_TYPES[options.type];
	const tensors = planGgufTensors(dir, weights, config, gguf, type);
	const vocabSize = tensors.find((t) => t.name === "token_embd.weight")?.shape[0];
	if (vocabSize === undefined) throw new ModelError(`${dir}: no token embeddings (model.embed_tokens.weight)`, { file: dir });
	const metadata: GgufEntry[] = [
		str("general.architecture", gguf.arch),
		str("general.type", "model"),
		str("general.name", options.name ?? basename(dir)),
		...hyperparameterEntries(gguf, config),
		u32("general.file_type", type.fileType),
		u32("general.quantization_version", GGML_QUANT_VERSION),
		...(await (parts?.tokenizer ? (parts.tokenizer.entries ??= tokenizerMetadata(parts.tokenizerDir, vocabSize, config)) : tokenizerMetadata(parts?.tokenizerDir ?? dir, vocabSize, config))),
	];
	const difference = gguf.differences?.(config);
	return { gguf, metadata, tensors, warnings: difference ? [difference] : [] };
}

export interface ConvertToGgufOptions extends GgufFileOptions {
	/** The GGUF file to write. */
	output: string;
	overwrite?: boolean;
	/** Source bytes converted so far, of `total`. */
	onProgress?: (done: number, total: number) => void;
	/** Stops between blocks of rows; the partial file is removed. */
	signal?: AbortSignal;
}

export interface ConvertToGgufResult {
	file: string;
	bytes: number;
	sha256: string;
	tensors: number;
	warnings: string[];
}

export async function convertToGguf(dir: string, options: ConvertToGgufOptions): Promise<ConvertToGgufResult> {
	// Started while the checkpoint is planned: compiling the kernels and starting the workers takes ~0.15 s.
	const starting = ComputeEngine.create();
	try {
		return await convertWith(dir, options, starting);
	} finally {
		await starting.then((engine) => engine.close(), () => {});
	}
}

async function convertWith(dir: string, options: ConvertToGgufOptions, starting: Promise<ComputeEngine>): Promise<ConvertToGgufResult> {
	const weights = await ModelWeights.open(dir);
	try {
		const plan = await planGgufFile(dir, weights, options);
		if (!options.overwrite && (await stat(options.output).then(() => true, () => false))) {
			throw new OutputError(`${options.output} exists`, { file: options.output, hint: "pass --overwrite to replace it" });
		}
		const layout = layoutGguf(plan.metadata, plan.tensors, options.alignment);
		const temp = join(options.output, "..", `.${basename(options.output)}.moe-merge-partial-${process.pid}`);
		const total = plan.tensors.reduce((sum, t) => sum + t.parts.reduce((s, p) => s + (p.kind === "source" ? p.rows * sourceRowBytes(p) : 0), 0), 0);
		let done = 0;
		const engine = await starting;
		// Staged in the engine's memory: the workers encode straight into the file's buffers.
		const writer = await GgufWriter.open(temp, layout, { engine });
		let sha256: string;
		try {
			await writeTensorsData(writer, plan.tensors, engine, (bytes) => {
				options.signal?.throwIfAborted();
				done += bytes;
				options.onProgress?.(done, total);
			});
			sha256 = await writer.finish();
			// The header as a reader sees it (cheap: no tensor data is read) before the file takes its name.
			const check = await readGgufHeader(temp);
			if (check.tensors.length !== plan.tensors.length || check.fileBytes !== layout.fileBytes) throw new Error(`${temp}: bug: the written GGUF header does not describe the planned file`);
			await rename(temp, options.output);
		} catch (error) {
			await writer.abort().catch(() => {});
			await rm(temp, { force: true });
			throw error;
		}
		return { file: options.output, bytes: layout.fileBytes, sha256, tensors: plan.tensors.length, warnings: plan.warnings };
	} finally {
		await weights.close();
	}
}
