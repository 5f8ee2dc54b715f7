/**
 * The layout of a GGUF file (version 3, little-endian), computed before any tensor data is written:
 * the header (magic, version, counts), the metadata, the tensor table (name, dimensions innermost
 * first, type, offset), padding to the alignment, then each tensor's data at its aligned offset, in
 * table order. Since the table is known from the plan, every offset is known up front and the file
 * is written in one pass.
 */
import { MoeMergeError } from "../errors.js";
import { ByteSink, type GgufEntry, u32 } from "./metadata.js";
import { type GgufTensorType, tensorBytes } from "./tensor-types.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF"
export const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;

export interface GgufTensorSpec {
	name: string;
	/** Shape as PyTorch writes it (outermost first); the table stores it reversed. */
	shape: readonly number[];
	type: GgufTensorType;
}

export interface PlacedTensor extends GgufTensorSpec {
	/** Absolute offset of the data in the file. */
	offset: number;
	bytes: number;
}

export interface GgufLayout {
	/** Header, metadata, tensor table and the padding up to the data. */
	header: Buffer;
	tensors: PlacedTensor[];
	alignment: number;
	/** The file's size, padding after the last tensor included (as gguf-py writes it). */
	fileBytes: number;
}

const alignUp = (n: number, alignment: number) => Math.ceil(n / alignment) * alignment;

/** Lays out a file; `general.alignment` is written when the alignment is not the default 32. */
export function layoutGguf(metadata: readonly GgufEntry[], tensors: readonly GgufTensorSpec[], alignment = DEFAULT_ALIGNMENT): GgufLayout {
	if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw new RangeError(`GGUF alignment must be a positive multiple of 8, not ${alignment}`);
	const entries = alignment === DEFAULT_ALIGNMENT ? metadata : [...metadata, u32("general.alignment", alignment)];
	const names = new Set<string>();
	for (const { key } of entries) {
		if (names.has(key)) throw new Error(`GGUF metadata key ${key} given twice`);
		names.add(key);
	}
	const sink = new ByteSink();
	sink.u32(GGUF_MAGIC);
	sink.u32(GGUF_VERSION);
	sink.u64(tensors.length);
	sink.u64(entries.length);
	for (const entry of entries) sink.entry(entry);
	let dataOffset = 0;
	const placed: PlacedTensor[] = [];
	for (const tensor of tensors) {
		const elements = tensor.shape.reduce((a, b) => a * b, 1);
		const row = tensor.shape[tensor.shape.length - 1] ?? 1;
		if (row % tensor.type.blockSize !== 0) {
			throw new MoeMergeError(`${tensor.name}: rows of ${row} values cannot be stored as ${tensor.type.name} (blocks of ${tensor.type.blockSize})`);
		}
		const bytes = tensorBytes(tensor.type, elements);
		sink.string(tensor.name);
		sink.u32(tensor.shape.length);
		for (let d = tensor.shape.length - 1; d >= 0; d--) sink.u64(tensor.shape[d]!);
		sink.u32(tensor.type.ggmlType);
		sink.u64(dataOffset);
		placed.push({ ...tensor, offset: dataOffset, bytes });
		dataOffset += alignUp(bytes, alignment);
	}
	sink.zeros(alignUp(sink.length, alignment) - sink.length);
	const header = sink.take();
	for (const tensor of placed) tensor.offset += header.length;
	return { header, tensors: placed, alignment, fileBytes: header.length + dataOffset };
}
