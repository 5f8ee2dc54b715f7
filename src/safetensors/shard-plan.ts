/** Splitting output tensors into shard files, the way transformers does. */
import { dtypeBytes, type DType } from "./dtype.js";
import { HEADER_LENGTH_BYTES } from "./header.js";
import { type OutputTensorSpec, encodeShardHeader } from "./shard-header.js";
import { SINGLE_FILE_NAME } from "./file-names.js";

export type { OutputTensorSpec };

export interface ShardPlan {
	fileName: string;
	tensors: { spec: OutputTensorSpec; byteLength: number }[];
	dataBytes: number;
	/** 8 + padded JSON, for the metadata given to planShards (pass the same to ShardWriter.create) */
	headerBytes: number;
}

/**
 * Splits tensors, in the given order, into shards of at most `maxShardBytes` data each; a tensor bigger
 * than the limit gets a shard of its own (transformers does the same). Shards are named
 * `model-00001-of-00003.safetensors`, or `model.safetensors` when there is only one.
 */
export function planShards(tensors: OutputTensorSpec[], maxShardBytes: number, metadata?: Record<string, string>): ShardPlan[] {
	if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) throw new RangeError(`planShards: shard size must be a positive integer, got ${maxShardBytes}`);
	checkNames(tensors);
	const groups: ShardPlan["tensors"][] = [];
	let current: ShardPlan["tensors"] = [];
	let currentBytes = 0;
	for (const spec of tensors) {
		const byteLength = tensorByteLength(spec);
		if (byteLength > maxShardBytes || currentBytes + byteLength > maxShardBytes) {
			if (current.length > 0) groups.push(current);
			current = [];
			currentBytes = 0;
		}
		current.push({ spec, byteLength });
		currentBytes += byteLength;
	}
	if (current.length > 0 || groups.length === 0) groups.push(current);

	return groups.map((group, i) => {
		const plan: ShardPlan = {
			fileName: shardFileName(i, groups.length),
			tensors: group,
			dataBytes: group.reduce((sum, t) => sum + t.byteLength, 0),
			headerBytes: 0,
		};
		plan.headerBytes = HEADER_LENGTH_BYTES + encodeShardHeader(plan, metadata).length;
		return plan;
	});
}

/** `model.safetensors` for a single shard, else `model-00002-of-00005.safetensors`. */
export function shardFileName(index: number, count: number): string {
	if (count === 1) return SINGLE_FILE_NAME;
	const pad = (n: number) => String(n).padStart(5, "0");
	return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** Bytes of a tensor's data; throws on a shape that is not a list of non-negative integers. */
export function tensorByteLength(spec: OutputTensorSpec): number {
	let bytes = dtypeBytes(spec.dtype);
	for (const d of spec.shape) {
		if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`tensor "${spec.name}": bad shape [${spec.shape.join(", ")}]`);
		bytes *= d;
	}
	if (!Number.isSafeInteger(bytes)) throw new RangeError(`tensor "${spec.name}": shape [${spec.shape.join(", ")}] is too large`);
	return bytes;
}

/** Output names come from our own planning, so a bad one is a bug: fail before writing anything. */
function checkNames(tensors: OutputTensorSpec[]): void {
	const seen = new Set<string>();
	for (const { name } of tensors) {
		if (name === "" || name === "__metadata__") throw new Error(`planShards: invalid tensor name ${JSON.stringify(name)}`);
		if (seen.has(name)) throw new Error(`planShards: tensor ${JSON.stringify(name)} is planned twice`);
		seen.add(name);
	}
}
