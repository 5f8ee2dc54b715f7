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
import type { ShardTap } from "./write-shards.js";
import { recordGguf, whyNotKept } from "../resume/kept-gguf.js";
import type { ResumeRecord } from "../resume/resume-record.js";

/** A GGUF file a merge writes: its name in the output folder, plan and layout. */
export interface MergeGgufFile {
	type: GgufTypeName;
	fileName: string;
	plan: GgufFilePlan;
	layout: GgufLayout;
}

/** A GGUF file a merge wrote (or, resuming, kept: complete from the interrupted merge and checked). */
export interface WrittenGguf {
	file: string;
	type: GgufTypeName;
	bytes: number;
	sha256: string;
	tensors: number;
	/** Resuming with the file recorded complete: kept, or why it was written again. */
	resumed?: { kept: true } | { kept: false; reason: string };
	/**
	 * Written from the stream: the most encoded bytes held in memory at once, waiting for their place in
	 * the file (GgufTap.maxHeldBytes): none of the per-expert tensors, the up halves of one gate_up_proj
	 * with --layout fused, a tied model's embeddings while they are copied to output.weight.
	 */
	heldBytes?: number;
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

/** Where a merge's GGUF files are told complete, and (resuming) which ones were. */
export interface GgufJournal {
	readonly current: Pick<ResumeRecord, "gguf">;
	update(change: (record: ResumeRecord) => ResumeRecord): Promise<void>;
}

/** One GGUF file of the merge: written from the stream (tap), or being checked to be kept from an interrupted merge. */
type FileState = { file: MergeGgufFile; tap?: GgufTap; check?: Promise<string | undefined>; done?: boolean };

/**
 * The GGUF files being written into a staging folder, fed by the shard stream. Each one is recorded
 * in the resume journal once complete (fsynced, hashed), so that a merge killed after it (writing the
 * side files, the lock) keeps it when resumed instead of writing it again.
 */
export class MergeGgufWriters {
	private constructor(
		private readonly dir: string, private readonly files: FileState[], private readonly journal: GgufJournal,
		private readonly engine: Engine | undefined, private readonly signal?: AbortSignal,
	) {}

	/**
	 * Opens each file in `dir`. A file the journal (taken over from an interrupted merge) records complete
	 * is checked meanwhile (kept-gguf.ts) and not streamed to; any other one left there is removed and written again.
	 * One compute engine encodes the tensor data of all of them (none without files: a merge without
	 * --gguf opens this only to remove what a resumed merge's record names).
	 */
	static async open(dir: string, files: MergeGgufFile[], journal: GgufJournal, signal?: AbortSignal): Promise<MergeGgufWriters> {
		const recorded = new Map((journal.current.gguf ?? []).map((g) => [g.name, g]));
		const planned = new Set(files.map((f) => f.fileName));
		// Recorded by the interrupted merge but not planned now (another --gguf): not kept.
		const dropped = [...recorded.keys()].filter((name) => !planned.has(name));
		if (dropped.length > 0) await journal.update((r) => ({ ...r, gguf: r.gguf?.filter((g) => !dropped.includes(g.name)) }));
		for (const name of dropped) await rm(join(dir, name), { force: true });
		const states: FileState[] = [];
		const engine = files.length > 0 ? await openEngine() : undefined;
		try {
			for (const file of files) {
				const previous = recorded.get(file.fileName);
				if (previous) {
					const check = whyNotKept(dir, previous, file.layout, signal);
					check.catch(() => {}); // awaited by finish(), or abandoned when the merge fails first
					states.push({ file, check });
				} else states.push({ file, tap: await openTap(dir, file, engine!) });
			}
		} catch (error) {
			await Promise.all(states.map((s) => s.tap?.abort().catch(() => {})));
			await closeEngine(engine);
			throw error;
		}
		return new MergeGgufWriters(dir, states, journal, engine, signal);
	}

	/** writeShards' tap: every output byte, to every file being written, taken in the engine's memory where the shards are staged. */
	get tap(): ShardTap {
		return {
			receive: async (tensor, bytes) => {
				await Promise.all(this.files.map((f) => f.tap?.receive(tensor, bytes)));
			},
			stagingBuffers: this.engine?.shardStaging.buffers,
		};
	}

	/**
	 * Once every shard is written: completes each file, reading from the shards what did not stream by
	 * (everything when a resumed merge kept shards or a kept GGUF file failed its check), fsyncs it and
	 * records it complete.
	 */
	async finish(): Promise<WrittenGguf[]> {
		if (this.files.length === 0) return [];
		const weights = await ModelWeights.open(this.dir);
		try {
			const written: WrittenGguf[] = [];
			for (const state of this.files) {
				const { file } = state;
				const result = { file: file.fileName, type: file.type, bytes: file.layout.fileBytes, tensors: file.plan.tensors.length };
				const reason = state.check && (await state.check);
				if (state.check && reason === undefined) {
					const sha256 = this.journal.current.gguf!.find((g) => g.name === file.fileName)!.sha256;
					state.done = true;
					written.push({ ...result, sha256, resumed: { kept: true } });
					continue;
				}
				if (state.check) {
					// Out of the record before it is removed: a kill in between leaves no file the record vouches for.
					await this.journal.update((r) => ({ ...r, gguf: r.gguf?.filter((g) => g.name !== file.fileName) }));
					await rm(join(this.dir, file.fileName), { force: true });
					state.tap = await openTap(this.dir, file, this.engine!);
				}
				this.signal?.throwIfAborted();
				const sha256 = await state.tap!.finish((name) => weights.get(name));
				state.done = true;
				await this.journal.update((r) => ({ ...r, gguf: [...(r.gguf ?? []).filter((g) => g.name !== file.fileName), recordGguf(file.fileName, file.layout, sha256)] }));
				written.push({ ...result, sha256, heldBytes: state.tap!.maxHeldBytes, ...(reason !== undefined && { resumed: { kept: false, reason } }) });
			}
			return written;
		} finally {
			await weights.close();
			await closeEngine(this.engine);
		}
	}

	/**
	 * The merge failed or was interrupted: removes the files not complete (a resumed merge writes them
	 * again); complete ones are left to the caller, who keeps them for a resume or discards the folder.
	 */
	async abort(): Promise<void> {
		const unfinished = this.files.filter((f) => !f.done);
		await Promise.all(unfinished.map((f) => f.tap?.abort().catch(() => {})));
		await closeEngine(this.engine);
		await Promise.all(unfinished.filter((f) => f.tap).map((f) => rm(join(this.dir, f.file.fileName), { force: true })));
	}
}

/**
 * The compute engine that encodes the GGUF files (each file is staged in its memory: GgufWriter), and
 * the shard writers' staging buffers in the same memory, so the tap encodes their bytes where they are written.
 */
interface Engine {
	compute: ComputeEngine;
	shardStaging: ReturnType<ComputeEngine["stagingBuffers"]>;
}

/** The stream reads into one while the GGUF files encode from up to two and one is written. */
const SHARD_STAGING_BUFFERS = 4;
const SHARD_STAGING_BYTES = 16 << 20;

async function openEngine(): Promise<Engine> {
	const compute = await ComputeEngine.create();
	return { compute, shardStaging: compute.stagingBuffers(SHARD_STAGING_BUFFERS, SHARD_STAGING_BYTES) };
}

async function closeEngine(engine: Engine | undefined): Promise<void> {
	if (!engine) return;
	await engine.shardStaging.release();
	await engine.compute.close();
}

/** A new GGUF file (one left by an interrupted merge is removed: it is written again). */
async function openTap(dir: string, file: MergeGgufFile, engine: Engine): Promise<GgufTap> {
	const path = join(dir, file.fileName);
	await rm(path, { force: true });
	return new GgufTap(await GgufWriter.open(path, file.layout, { engine: engine.compute }), file.plan.tensors, engine.compute);
}
