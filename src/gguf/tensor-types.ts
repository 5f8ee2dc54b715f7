/**
 * The tensor types a GGUF file can hold, one description each: ggml's type id, block size and bytes
 * per block (ggml's type traits, gguf-py's GGML_QUANT_SIZES), the file type (LlamaFileType) a file
 * mostly of this type declares, the engine kernel that encodes tensor data as it (ComputeEngine.encode),
 * and how to encode a few computed f32 values. A k-quant (Q4_K, Q5_K, Q6_K: blocks of 256) is one more
 * entry with its kernel.
 */
import type { EncodeTarget } from "../kernels/encode-range.js";
import { fromFloat32 } from "../safetensors/convert.js";
import { Q8_0_BLOCK, Q8_0_BYTES, quantizeQ8_0Reference } from "./q8-0.js";

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
	/** Encodes src.length values (a multiple of blockSize) into dst, in plain code (a few computed values). */
	encode(src: Float32Array, dst: Uint8Array): void;
	/** What ComputeEngine.encode makes of F32/F16/BF16 tensor data for this type (the same bytes as `encode` on its f32 values). */
	kernel: EncodeTarget;
}

export const GGUF_TENSOR_TYPES: Readonly<Record<GgufTypeName, GgufTensorType>> = {
	f32: { name: "f32", ggmlType: 0, blockSize: 1, typeSize: 4, fileType: 0, encode: (src, dst) => void fromFloat32(src, "F32", dst), kernel: "F32" },
	f16: { name: "f16", ggmlType: 1, blockSize: 1, typeSize: 2, fileType: 1, encode: (src, dst) => void fromFloat32(src, "F16", dst), kernel: "F16" },
	q8_0: { name: "q8_0", ggmlType: 8, blockSize: Q8_0_BLOCK, typeSize: Q8_0_BYTES, fileType: 7, encode: quantizeQ8_0Reference, kernel: "Q8_0" },
	bf16: { name: "bf16", ggmlType: 30, blockSize: 1, typeSize: 2, fileType: 32, encode: (src, dst) => void fromFloat32(src, "BF16", dst), kernel: "BF16" },
};

export const GGUF_TYPE_NAMES = Object.keys(GGUF_TENSOR_TYPES) as GgufTypeName[];

export function isGgufTypeName(value: string): value is GgufTypeName {
	return Object.hasOwn(GGUF_TENSOR_TYPES, value);
}

/** Bytes of a tensor of `elements` values of `type` (its row length must be a multiple of the block size). */
export function tensorBytes(type: GgufTensorType, elements: number): number {
	return (elements / type.blockSize) * type.typeSize;
}
