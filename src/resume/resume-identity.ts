import { ADAPTER_FILES } from "../checkpoint/side-files.js";
import { basename, join, resolve } from "node:path";
import { inputFileNames } from "../lock/index.js";
import type { LockedSource } from "../lock/index.js";
import type { RecordedInput, ResumeRecord } from "./resume-record.js";
import { encodeShardHeader } from "../safetensors/shard-header.js";
import { sha256Hex } from "../util/sha256.js";
import { VERSION } from "../version.js";
import { stampOf } from "../inputs/input-stamps.js";
import type { ModelWeights, ShardPlan } from "../safetensors/index.js";

/** What of a merge plan (src/merge/plan-merge.ts) identifies its job. */
export interface JobPlan {
	recipe: { file: string; text: string };
	seed: number;
	layout: string;
	shardSize: number;
	shards: readonly ShardPlan[];
	/** The input models, their open weights, and which one is the base. */
	models: readonly { label: string; dir: string; commit?: string; /** base+lora: the adapter folder, an input of its own. */ adapter?: { label: string; dir: string; commit?: string } }[];
	weights: readonly Pick<ModelWeights, "shards">[];
	base: number;
}

/** What identifies a merge job, as a fresh resume record (no shard complete yet). */
export async function describeJob(plan: JobPlan, options: { command?: ResumeRecord["command"] }): Promise<ResumeRecord> {
	return {
		resumeRecordVersion: 1,
		tool: `moe-merge ${VERSION}`,
		...(options.command && { command: options.command }),
		recipe: { path: resolve(plan.recipe.file), sha256: sha256Hex(plan.recipe.text), text: plan.recipe.text },
		options: { seed: plan.seed, layout: plan.layout, shardSize: plan.shardSize },
		inputs: await recordInputs(plan),
		shards: plan.shards.map((s) => ({ name: s.fileName, bytes: s.headerBytes + s.dataBytes, header: sha256Hex(encodeShardHeader(s)) })),
		complete: [],
	};
}

/**
 * Every file each input model gives the merge: config, index, weights, and the base's side files
 * (its tokenizer reads the prompts of hidden-state gates even when it is not copied).
 */
async function recordInputs(plan: JobPlan): Promise<RecordedInput[]> {
	const inputs: RecordedInput[] = [];
	for (const [i, model] of plan.models.entries()) {
		const weightFiles = plan.weights[i].shards().map((f) => basename(f.path));
		const names = await inputFileNames({ dir: model.dir, weightFiles, sideFiles: i === plan.base });
		const files = [];
		for (const name of names) files.push({ name, stamp: await stampOf(join(model.dir, name)) });
		inputs.push({ model: model.label, ...(model.commit && { commit: model.commit }), files });
		// base+lora: the adapter's files too (a changed adapter changes the weights written).
		if (model.adapter) inputs.push(await recordAdapterInput(model.adapter));
	}
	return inputs;
}

/** A LoRA adapter as an input of a job: its two files. */
export async function recordAdapterInput(adapter: { label: string; dir: string; commit?: string }): Promise<RecordedInput> {
	const files = [];
	for (const name of ADAPTER_FILES) files.push({ name, stamp: await stampOf(join(adapter.dir, name)) });
	return { model: adapter.label, ...(adapter.commit && { commit: adapter.commit }), files };
}

/** The lock's input hashes (computed while the merge writes) added to the record's input files. */
export function withInputHashes(record: ResumeRecord, sources: readonly LockedSource[]): ResumeRecord {
	const hashes = new Map<string, string>();
	for (const source of sources) for (const file of source.files) hashes.set(`${source.ref}\0${file.path}`, file.sha256);
	const inputs = record.inputs.map((input) => ({
		...input,
		files: input.files.map((f) => {
			const sha256 = hashes.get(`${input.model}\0${f.name}`) ?? f.sha256;
			return sha256 ? { ...f, sha256 } : f;
		}),
	}));
	return { ...record, inputs };
}
