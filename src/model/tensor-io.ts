/** Reading whole tensors or row ranges of a model's weights, with shape and dtype checks that name the file. */
import { ModelError } from "../errors.js";
import { dtypeBytes, isFloatDType, toFloat32, type ModelWeights, type TensorLocation } from "../safetensors/index.js";
import type { LinearDType } from "./linear-backend.js";

/** Locates `name` and checks it has `shape` and a float dtype. */
export function locate(weights: ModelWeights, name: string, shape: number[]): TensorLocation & { dtype: LinearDType } {
	const location = weights.get(name);
	const { info, file } = location;
	if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
		throw new ModelError(`${file.path}: tensor "${name}" has shape [${info.shape.join(", ")}], config.json implies [${shape.join(", ")}]`, { file: file.path });
	}
	if (!isFloatDType(info.dtype)) {
		throw new ModelError(`${file.path}: tensor "${name}" is ${info.dtype}; only F32, F16 and BF16 weights are supported`, { file: file.path });
	}
	return { ...location, dtype: info.dtype as LinearDType };
}

/** A 1-D tensor (norm weight, bias) as f32. */
export async function readVector(weights: ModelWeights, name: string, length: number): Promise<Float32Array> {
	const { file, info, dtype } = locate(weights, name, [length]);
	const bytes = new Uint8Array(info.end - info.begin);
	await file.read(info, 0, bytes.length, bytes);
	return toFloat32(bytes, dtype, length);
}

/** Several f32 vectors end to end (the biases of a fused projection). */
export async function readVectors(weights: ModelWeights, parts: { name: string; length: number }[]): Promise<Float32Array> {
	const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
	let at = 0;
	for (const p of parts) {
		out.set(await readVector(weights, p.name, p.length), at);
		at += p.length;
	}
	return out;
}

/**
 * A byte buffer reused for every matrix read: reading into freshly allocated buffers is several times
 * slower (page faults), and one buffer the size of the largest matrix bounds the memory.
 */
export class ReadBuffer {
	private buffer = new Uint8Array(0);

	/** `length` bytes, valid until the next call. */
	take(length: number): Uint8Array {
		if (this.buffer.length < length) this.buffer = new Uint8Array(length);
		return this.buffer.subarray(0, length);
	}
}

/**
 * Matrices [rows_i, cols] stacked into one [Σ rows_i, cols] (row-major stacking is byte concatenation),
 * in their common dtype, or F32 if they differ, into memory from `take(bytes)`: a ReadBuffer (valid
 * until its next use) or any allocator, such as the kernel engine's raw buffers.
 */
export async function readStacked(
	weights: ModelWeights,
	parts: { name: string; rows: number }[],
	cols: number,
	into: ReadBuffer | ((bytes: number) => Uint8Array),
): Promise<{ bytes: Uint8Array; dtype: LinearDType; rows: number }> {
	const located = parts.map((p) => locate(weights, p.name, [p.rows, cols]));
	const same = located.every((l) => l.dtype === located[0]!.dtype);
	const dtype: LinearDType = same ? located[0]!.dtype : "F32";
	const rows = parts.reduce((n, p) => n + p.rows, 0);
	const length = rows * cols * dtypeBytes(dtype);
	const bytes = typeof into === "function" ? into(length) : into.take(length);
	let at = 0;
	for (const { file, info, dtype: own } of located) {
		const size = info.end - info.begin;
		if (own === dtype) {
			await file.read(info, 0, size, bytes.subarray(at, at + size));
			at += size;
		} else {
			const raw = new Uint8Array(size);
			await file.read(info, 0, size, raw);
			const values = toFloat32(raw, own, size / dtypeBytes(own));
			bytes.set(new Uint8Array(values.buffer, 0, values.byteLength), at);
			at += values.byteLength;
		}
	}
	return { bytes, dtype, rows };
}

/** Rows [first, first + count) of a 2-D tensor as raw bytes. */
export async function readRows(location: TensorLocation & { dtype: LinearDType }, cols: number, first: number, count: number, into?: Uint8Array): Promise<Uint8Array> {
	const rowBytes = cols * dtypeBytes(location.dtype);
	const bytes = into ?? new Uint8Array(count * rowBytes);
	await location.file.read(location.info, first * rowBytes, count * rowBytes, bytes);
	return bytes;
}
