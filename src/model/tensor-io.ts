/** Reading whole tensors or row ranges of a model's weights, with shape and dtype checks that name the file. */
import { ModelError } from "../errors.js";
import { dtypeBytes, toFloat32, type ModelWeights, type TensorLocation } from "../safetensors/index.js";
import type { LinearDType } from "./linear-backend.js";

const FLOAT_DTYPES: readonly string[] = ["F32", "F16", "BF16"];

/** Locates `name` and checks it has `shape` and a float dtype. */
export function locate(weights: ModelWeights, name: string, shape: number[]): TensorLocation & { dtype: LinearDType } {
	const location = weights.get(name);
	const { info, file } = location;
	if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
		throw new ModelError(`${file.path}: tensor "${name}" has shape [${info.shape.join(", ")}], config.json implies [${shape.join(", ")}]`, { file: file.path });
	}
	if (!FLOAT_DTYPES.includes(info.dtype)) {
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

/** Rows [first, first + count) of a 2-D tensor as raw bytes. */
export async function readRows(location: TensorLocation & { dtype: LinearDType }, cols: number, first: number, count: number, into?: Uint8Array): Promise<Uint8Array> {
	const rowBytes = cols * dtypeBytes(location.dtype);
	const bytes = into ?? new Uint8Array(count * rowBytes);
	await location.file.read(location.info, first * rowBytes, count * rowBytes, bytes);
	return bytes;
}
