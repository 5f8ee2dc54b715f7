/** The header of an output shard: the JSON that precedes its tensor data. */
import type { DType } from "./dtype.js";

/** A tensor as an output shard's header names it. */
export interface OutputTensorSpec {
	name: string;
	dtype: DType;
	shape: number[];
}

/** Data must start at a multiple of this, so readers can map typed arrays straight onto it. */
const DATA_ALIGNMENT = 8;
const SPACE = 0x20;

/**
 * Serialises the header JSON for a shard: {"__metadata__":{"format":"pt",...}, name: {dtype, shape,
 * data_offsets}, ...} in plan order, padded with spaces so that 8 + its length is a multiple of 8.
 * The 8-byte length prefix is not included.
 */
export function encodeShardHeader(shard: { tensors: readonly { spec: OutputTensorSpec; byteLength: number }[] }, metadata?: Record<string, string>): Uint8Array {
	const parts = [`"__metadata__":${JSON.stringify({ format: "pt", ...metadata })}`];
	let offset = 0;
	for (const { spec, byteLength } of shard.tensors) {
		// Built by hand rather than through an object: JS objects would reorder integer-like names.
		parts.push(`${JSON.stringify(spec.name)}:{"dtype":"${spec.dtype}","shape":[${spec.shape.join(",")}],"data_offsets":[${offset},${offset + byteLength}]}`);
		offset += byteLength;
	}
	const json = new TextEncoder().encode(`{${parts.join(",")}}`);
	// The 8-byte prefix is itself aligned, so padding the JSON to a multiple of 8 aligns the data.
	const padded = new Uint8Array(Math.ceil(json.length / DATA_ALIGNMENT) * DATA_ALIGNMENT).fill(SPACE);
	padded.set(json);
	return padded;
}
