/**
 * The tensor types a GGUF file can hold, one description each: ggml's type id, block size and bytes
 * per block (ggml's type traits, gguf-py's GGML_QUANT_SIZES), the file type (LlamaFileType) a file
 * mostly of this type declares, and how to encode f32 values. A k-quant (Q4_K, Q5_K, Q6_K: blocks of
 * 256) is one more entry with its kernel.
 */
import { convertDtype, fromFloat32, toFloat32 } from "../safetensors/convert.js";
import type { DType } from "../safetensors/dtype.js";
import { Q8_0_BLOCK, Q8_0_BYTES, quantizeQ8_0 } from "./q8-0.js";

export type GgufTypeName = "f32" | "f16" | "bf16" | "q8_0";

export interface GgufTensorType {
	name: GgufTypeName;
	/** ggml_type (GGMLQuantizationType). */
	ggmlType: number;
	/** Values per block; a row (the innermost dimension) must be a whole number of blocks. */
	blockSize: number;
	/** Bytes per block. */
	typeSize: number;
	/** general.file_type of a file whose big tensors have this type (LlamaFileType). */
	fileType: number;
	/** Encodes src.length values (a multiple of blockSize) into dst. */
	encode(src: Float32Array, dst: Uint8Array): void;
	/** The safetensors dtype whose bytes these are (the float types): converted to straight from F16/BF16/F32, not through f32 values. */
	dtype?: DType;
}

export const GGUF_TENSOR_TYPES: Readonly<Record<GgufTypeName, GgufTensorType>> = {
	f32: { name: "f32", ggmlType: 0, blockSize: 1, typeSize: 4, fileType: 0, encode: (src, dst) => void fromFloat32(src, "F32", dst), dtype: "F32" },
	f16: { name: "f16", ggmlType: 1, blockSize: 1, typeSize: 2, fileType: 1, encode: (src, dst) => void fromFloat32(src, "F16", dst), dtype: "F16" },
	q8_0: { name: "q8_0", ggmlType: 8, blockSize: Q8_0_BLOCK, typeSize: Q8_0_BYTES, fileType: 7, encode: quantizeQ8_0 },
	bf16: { name: "bf16", ggmlType: 30, blockSize: 1, typeSize: 2, fileType: 32, encode: (src, dst) => void fromFloat32(src, "BF16", dst), dtype: "BF16" },
};

export const GGUF_TYPE_NAMES = Object.keys(GGUF_TENSOR_TYPES) as GgufTypeName[];

export function isGgufTypeName(value: string): value is GgufTypeName {
	return Object.hasOwn(GGUF_TENSOR_TYPES, value);
}

/** Bytes of a tensor of `elements` values of `type` (its row length must be a multiple of the block size). */
export function tensorBytes(type: GgufTensorType, elements: number): number {
	return (elements / type.blockSize) * type.typeSize;
}

/**
 * `count` values stored as `dtype` (safetensors bytes) encoded as `type`. A float type is converted to
 * straight (a copy when the dtype is the same): the same bytes as through f32, which holds every F16 and
 * BF16 value exactly, at a fraction of the work. Into `scratch` when it is big enough (bytes written at once).
 */
export function encodeStored(raw: Uint8Array, dtype: DType, type: GgufTensorType, count: number, scratch?: Uint8Array): Uint8Array {
	const bytes = tensorBytes(type, count);
	const out = scratch && scratch.length >= bytes ? scratch.subarray(0, bytes) : new Uint8Array(bytes);
	if (type.dtype) convertDtype(raw, dtype, out, type.dtype, count);
	else type.encode(toFloat32(raw, dtype, count), out);
	return out;
}
