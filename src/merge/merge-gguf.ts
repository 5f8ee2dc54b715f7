/**
 * `--gguf <type>` on a merge: GGUF files written beside the shards from the merge's own stream. Each
 * is planned, before anything is written, from the shards the merge will write, the config it will
 * write and the base's tokenizer files it copies: the same plan `moe-merge gguf` makes of the finished
 * folder, so the file is byte for byte the one `moe-merge gguf` would write (what llama.cpp was
 * checked on). While the shards are written, a GgufTap per file converts their bytes as they go by.
 */
import { rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { ModelError } from "../errors.js";
import { type GgufFilePlan, planGgufFile } from "../gguf-convert/convert-to-gguf.js";
import { GgufTap } from "../gguf/gguf-tap.js";
import { GgufWriter } from "../gguf/gguf-writer.js";
import { type GgufLayout, layoutGguf } from "../gguf/layout.js";
import { type GgufTypeName } from "../gguf/tensor-types.js";
import { ComputeEngine } from "../kernels/engine.js";
import { ModelWeights } from "../safetensors/model-weights.js";
import { plannedShardTensors } from "../safetensors/planned-shards.js";
import type { MergePlan } from "./plan-merge.js";

/** A GGUF file a merge writes: its name in the output folder, plan and layout. */
export interface MergeGgufFile {
	type: GgufTypeName;
	fileName: string;
	plan: GgufFilePlan;
	layout: GgufLayout;
}

/** A GGUF file a merge wrote. */
export interface WrittenGguf {
	file: string;
	type: GgufTypeName;
	bytes: number;
	sha256: string;
	tensors: number;
}

/** `<output folder name>-<TYPE>.gguf`, as `moe-merge gguf <folder>` names it. */
export function mergeGgufFileName(outputDir: string, type: GgufTypeName): string {
	return `${basename(outputDir)}-${type.toUpperCase()}.gguf`;
}

/**
 * Plans the GGUF files of a merge (types in the order given, each once); throws the one-line reason
 * when llama.cpp cannot take the output (architecture, tokenizer, pre-tokenizer) before anything is written.
 */
export async function planMergeGguf(plan: MergePlan, outputDir: string, types: readonly GgufTypeName[], options: { copyTokenizer: boolean }): Promise<MergeGgufFile[]> {
	if (types.length === 0) return [];
	if (!options.copyTokenizer) throw new ModelError(`--gguf needs the tokenizer in the GGUF file; it cannot be used with --no-tokenizer`);
	const tensors = plannedShardTensors(outputDir, plan.shards);
	// Every type's plan has the same tokenizer metadata: read once.
	const parts = { config: plan.config, tokenizerDir: plan.models[plan.base].dir, tokenizer: {} };
	const files: MergeGgufFile[] = [];
	for (const type of [...new Set(types)]) {
		const ggufPlan = await planGgufFile(outputDir, tensors, { type, name: basename(outputDir) }, parts);
		files.push({ type, fileName: mergeGgufFileName(outputDir, type), plan: ggufPlan, layout: layoutGguf(ggufPlan.metadata, ggufPlan.tensors) });
	}
	return files;
}

/** The GGUF files being written into a staging folder, fed by the shard stream. */
export class MergeGgufWriters {
	private constructor(private readonly dir: string, private readonly files: MergeGgufFile[], private readonly taps: GgufTap[], private readonly engine: ComputeEngine) {}

	/**
	 * Opens each file in `dir` (one left by an interrupted merge is removed: it is written again), with
	 * one compute engine that encodes the tensor data of all of them.
	 */
	static async open(dir: string, files: MergeGgufFile[]): Promise<MergeGgufWriters> {
		const engine = await ComputeEngine.create();
		const taps: GgufTap[] = [];
		try {
			for (const file of files) {
				const path = join(dir, file.fileName);
				await rm(path, { force: true });
				taps.push(new GgufTap(await GgufWriter.open(path, file.layout), file.plan.tensors, engine));
			}
		} catch (error) {
			await Promise.all(taps.map((t) => t.abort().catch(() => {})));
			await engine.close();
			throw error;
		}
		return new MergeGgufWriters(dir, files, taps, engine);
	}

	/** writeShards' tap: every output byte, to every file. */
	readonly tap = async (tensor: string, bytes: Uint8Array): Promise<void> => {
		for (const tap of this.taps) await tap.receive(tensor, bytes);
	};

	/** The most encoded bytes any file held at once (a layer's expert stacks). */
	get maxHeldBytes(): number {
		return Math.max(0, ...this.taps.map((t) => t.maxHeldBytes));
	}

	/**
	 * Once every shard is written: completes each file, reading from the shards what did not stream by
	 * (a tied model's output.weight; everything when a resumed merge kept shards), fsyncs it.
	 */
	async finish(): Promise<WrittenGguf[]> {
		const weights = await ModelWeights.open(this.dir);
		try {
			const written: WrittenGguf[] = [];
			for (const [i, tap] of this.taps.entries()) {
				const file = this.files[i]!;
				const sha256 = await tap.finish((name) => weights.get(name));
				written.push({ file: file.fileName, type: file.type, bytes: file.layout.fileBytes, sha256, tensors: file.plan.tensors.length });
			}
			return written;
		} finally {
			await weights.close();
			await this.engine.close();
		}
	}

	/** Removes the files (the merge failed or was interrupted: a resumed merge writes them again). */
	async abort(): Promise<void> {
		await Promise.all(this.taps.map((t) => t.abort().catch(() => {})));
		await this.engine.close();
		await Promise.all(this.files.map((f) => rm(join(this.dir, f.fileName), { force: true })));
	}
}
