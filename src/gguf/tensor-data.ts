/**
 * Streams the data of planned GGUF tensors into a GgufWriter: each source slice is read a block of
 * rows at a time, widened to f32, permuted for llama.cpp's rope where the plan says so (a whole slice:
 * a q/k projection), encoded to the tensor's type and appended. Memory: one block of rows (or one q/k
 * projection), whatever the model's size.
 */
import { toFloat32 } from "../safetensors/convert.js";
import { dtypeBytes } from "../safetensors/dtype.js";
import type { GgufWriter } from "./gguf-writer.js";
import { type PlannedGgufTensor, type SourceSlice } from "./plan-gguf.js";
import { tensorBytes } from "./tensor-types.js";

/** Source bytes read per step. */
const STEP_BYTES = 16 << 20;

/** Rows of a [rows, cols] matrix permuted as the converter's LlamaModel.permute(w, heads). */
export function permuteRows(values: Float32Array, rows: number, cols: number, heads: number): Float32Array {
	const half = rows / heads / 2;
	if (!Number.isInteger(half)) throw new Error(`cannot permute ${rows} rows for ${heads} heads`);
	const out = new Float32Array(values.length);
	for (let h = 0; h < heads; h++) {
		for (let i = 0; i < half; i++) {
			for (let j = 0; j < 2; j++) {
				const to = h * 2 * half + i * 2 + j;
				const from = h * 2 * half + j * half + i;
				out.set(values.subarray(from * cols, (from + 1) * cols), to * cols);
			}
		}
	}
	return out;
}

async function readRows(slice: SourceSlice, firstRow: number, rows: number): Promise<Float32Array> {
	const { location, cols } = slice;
	const bytes = dtypeBytes(location.info.dtype);
	const raw = new Uint8Array(rows * cols * bytes);
	await location.file.read(location.info, (slice.firstRow + firstRow) * cols * bytes, raw.length, raw);
	return toFloat32(raw, location.info.dtype, rows * cols);
}

export async function writeTensorData(writer: GgufWriter, tensor: PlannedGgufTensor, onBytes?: (sourceBytes: number) => void): Promise<void> {
	const type = tensor.type;
	for (const part of tensor.parts) {
		if (part.kind === "values") {
			const out = new Uint8Array(tensorBytes(type, part.values.length));
			type.encode(part.values, out);
			await writer.write(out);
			continue;
		}
		const rowBytes = part.cols * dtypeBytes(part.location.info.dtype);
		const step = tensor.permuteHeads !== undefined ? part.rows : Math.max(1, Math.floor(STEP_BYTES / rowBytes));
		for (let row = 0; row < part.rows; row += step) {
			const rows = Math.min(step, part.rows - row);
			let values = await readRows(part, row, rows);
			if (tensor.permuteHeads !== undefined) values = permuteRows(values, rows, part.cols, tensor.permuteHeads);
			const out = new Uint8Array(tensorBytes(type, values.length));
			type.encode(values, out);
			await writer.write(out);
			onBytes?.(rows * rowBytes);
		}
	}
}
