/**
 * Streams the data of planned GGUF tensors into a GgufWriter: each source slice is read a block of
 * rows at a time (the next block read while this one is written), encoded to the tensor's type
 * (through f32 values where the type or llama.cpp's rope permutation of a q/k projection, a whole
 * slice, needs them) and appended. Memory: two blocks of rows (or one q/k projection), whatever the
 * model's size.
 */
import { toFloat32 } from "../safetensors/convert.js";
import { dtypeBytes } from "../safetensors/dtype.js";
import type { GgufWriter } from "./gguf-writer.js";
import { type PlannedGgufTensor, type SourceSlice } from "./plan-gguf.js";
import { encodeStored, tensorBytes } from "./tensor-types.js";

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

async function readRows(slice: SourceSlice, firstRow: number, rows: number, buffer: Uint8Array): Promise<Uint8Array> {
	const { location, cols } = slice;
	const bytes = dtypeBytes(location.info.dtype);
	const raw = buffer.subarray(0, rows * cols * bytes);
	await location.file.read(location.info, (slice.firstRow + firstRow) * cols * bytes, raw.length, raw);
	return raw;
}

/** Buffers reused from tensor to tensor (allocated per tensor, they wait for the garbage collector: hundreds of MB). */
export interface TensorDataBuffers {
	/** Two read buffers, taken in turn: one is read into while the other is written. */
	reads: Uint8Array[];
	/** Where a block is encoded (GgufWriter.write copies it). */
	encoded?: Uint8Array;
}

export async function writeTensorData(writer: GgufWriter, tensor: PlannedGgufTensor, onBytes?: (sourceBytes: number) => void, reuse: TensorDataBuffers = { reads: [] }): Promise<void> {
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
		const blockBytes = Math.min(step, part.rows) * rowBytes;
		if ((reuse.reads[0]?.length ?? 0) < blockBytes) reuse.reads = [new Uint8Array(blockBytes), new Uint8Array(blockBytes)];
		const buffers = reuse.reads;
		const encodedBytes = tensorBytes(type, Math.min(step, part.rows) * part.cols);
		if ((reuse.encoded?.length ?? 0) < encodedBytes) reuse.encoded = new Uint8Array(encodedBytes);
		const scratch = reuse.encoded;
		// The next block is read while this one is converted and written (the disk reads ahead of the writer).
		let turn = 0;
		let next: Promise<Uint8Array> | undefined = readRows(part, 0, Math.min(step, part.rows), buffers[0]!);
		for (let row = 0; row < part.rows; row += step) {
			const rows = Math.min(step, part.rows - row);
			const raw = await next!;
			turn = 1 - turn;
			next = row + step < part.rows ? readRows(part, row + step, Math.min(step, part.rows - row - step), buffers[turn]!) : undefined;
			next?.catch(() => {}); // awaited next turn; a failure of this block's write comes first
			const { dtype } = part.location.info;
			// GgufWriter.write copies: one buffer serves every block.
			if (tensor.permuteHeads === undefined) await writer.write(encodeStored(raw, dtype, type, rows * part.cols, scratch));
			else {
				const values = permuteRows(toFloat32(raw, dtype, rows * part.cols), rows, part.cols, tensor.permuteHeads);
				const out = new Uint8Array(tensorBytes(type, values.length));
				type.encode(values, out);
				await writer.write(out);
			}
			onBytes?.(rows * rowBytes);
		}
	}
}
