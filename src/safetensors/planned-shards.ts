/**
 * The tensors of shards a merge is about to write, located as ModelWeights would locate them once
 * written (same files in the same order, same offsets): what a GGUF file is planned from before the
 * shards exist. Nothing can be read through them yet.
 */
import { join } from "node:path";
import type { TensorLocation, TensorReader } from "./model-weights.js";
import type { ShardPlan } from "./shard-plan.js";

export interface PlannedShardTensors {
	names(): string[];
	get(name: string): TensorLocation;
	shards(): readonly TensorReader[];
}

export function plannedShardTensors(dir: string, shards: readonly ShardPlan[]): PlannedShardTensors {
	const files: TensorReader[] = [];
	const tensors = new Map<string, TensorLocation>();
	for (const shard of shards) {
		const path = join(dir, shard.fileName);
		const file: TensorReader = {
			path,
			read: () => Promise.reject(new Error(`${path}: bug: read before the shard is written`)),
		};
		files.push(file);
		let begin = shard.headerBytes;
		for (const { spec, byteLength } of shard.tensors) {
			tensors.set(spec.name, { file, info: { name: spec.name, dtype: spec.dtype, shape: spec.shape, begin, end: begin + byteLength } });
			begin += byteLength;
		}
	}
	return {
		names: () => [...tensors.keys()],
		get: (name) => {
			const location = tensors.get(name);
			if (!location) throw new Error(`${dir}: no planned tensor ${name}`);
			return location;
		},
		shards: () => files,
	};
}
