/**
 * Streams the data of planned GGUF tensors into a GgufWriter: each source slice is read a block of
 * rows at a time into the compute engine's shared memory, encoded there to the tensor's type by the
 * engine's workers (WebAssembly SIMD) and appended; reading, encoding and writing of consecutive
 * blocks overlap, and the writer's disk writes (and hashing, on its thread) run behind. A q/k projection is read whole and its
 * rows permuted for llama.cpp's rope as raw bytes before encoding (a row permutation commutes with
 * converting or quantizing rows). Memory: two blocks of rows (or one q/k projection) and two
 * encoded, whatever the model's size.
 */
import type { ComputeEngine, LinearDType, RawBuffer } from "../kernels/engine.js";
import { dtypeBytes } from "../safetensors/dtype.js";
import type { GgufWriter } from "./gguf-writer.js";
import { type PlannedGgufTensor, type SourceSlice } from "./plan-gguf.js";
import { tensorBytes } from "./tensor-types.js";

/** Source bytes read per step. */
const STEP_BYTES = 16 << 20;

/**
 * Rows of a [rows, cols] matrix of `rowBytes` bytes each, permuted as the converter's
 * LlamaModel.permute(w, heads) (reshape(heads, 2, half, cols).swapaxes(1, 2)): from `src` into `dst`.
 */
export function permuteRows(src: Uint8Array, dst: Uint8Array, rows: number, rowBytes: number, heads: number): void {
	const half = rows / heads / 2;
	if (!Number.isInteger(half)) throw new Error(`cannot permute ${rows} rows for ${heads} heads`);
	for (let h = 0; h < heads; h++) {
		for (let i = 0; i < half; i++) {
			for (let j = 0; j < 2; j++) {
				const to = h * 2 * half + i * 2 + j;
				const from = h * 2 * half + j * half + i;
				dst.set(src.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
			}
		}
	}
}

/** The dtype of a slice's source as the engine takes it (the plan admits F32, F16 and BF16 only). */
export function sourceDtype(slice: SourceSlice): LinearDType {
	return slice.location.info.dtype as LinearDType;
}

async function readRows(slice: SourceSlice, firstRow: number, rows: number, buffer: Uint8Array): Promise<Uint8Array> {
	const { location, cols } = slice;
	const bytes = dtypeBytes(location.info.dtype);
	const raw = buffer.subarray(0, rows * cols * bytes);
	await location.file.read(location.info, (slice.firstRow + firstRow) * cols * bytes, raw.length, raw);
	return raw;
}

/**
 * The engine and the shared-memory buffers reused from tensor to tensor (grown when a bigger block
 * comes); release() gives them back.
 */
export class TensorDataBuffers {
	/** Two read buffers, taken in turn: one is read into while the other is encoded. */
	private reads: RawBuffer[] = [];
	/** Two encode buffers, taken in turn: one is encoded into while the other is written. */
	private encoded: RawBuffer[] = [];

	constructor(readonly engine: ComputeEngine) {}

	/** Read buffers of at least `bytes` each. */
	readBuffers(bytes: number): Uint8Array[] {
		if ((this.reads[0]?.bytes.length ?? 0) < bytes) {
			for (const r of this.reads) void r.release();
			this.reads = [this.engine.rawBuffer(bytes), this.engine.rawBuffer(bytes)];
		}
		return this.reads.map((r) => r.bytes);
	}

	/** Encode buffers of at least `bytes` each. */
	encodeBuffers(bytes: number): Uint8Array[] {
		if ((this.encoded[0]?.bytes.length ?? 0) < bytes) {
			for (const r of this.encoded) void r.release();
			this.encoded = [this.engine.rawBuffer(bytes), this.engine.rawBuffer(bytes)];
		}
		return this.encoded.map((r) => r.bytes);
	}

	async release(): Promise<void> {
		await Promise.all([...this.reads, ...this.encoded].map((r) => r.release()));
		this.reads = [];
		this.encoded = [];
	}
}

export async function writeTensorData(writer: GgufWriter, tensor: PlannedGgufTensor, buffers: TensorDataBuffers, onBytes?: (sourceBytes: number) => void): Promise<void> {
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
		const blockRows = Math.min(step, part.rows);
		const reads = buffers.readBuffers(blockRows * rowBytes);
		const encoded = buffers.encodeBuffers(tensorBytes(type, blockRows * part.cols));
		const dtype = sourceDtype(part);
		// Three stages at once: block i + 1 is read while block i is encoded (on the workers) and block
		// i - 1 written (copied into the writer, which writes to disk behind). Buffers go in turns of two:
		// a block's read buffer is read into again once it is encoded, its encode buffer once it is written.
		let turn = 0;
		let next: Promise<Uint8Array> | undefined = readRows(part, 0, blockRows, reads[0]!);
		let written: Promise<void> = Promise.resolve();
		for (let row = 0; row < part.rows; row += step) {
			const rows = Math.min(step, part.rows - row);
			let raw = await next!;
			const out = encoded[turn]!.subarray(0, tensorBytes(type, rows * part.cols));
			turn = 1 - turn;
			next = row + step < part.rows ? readRows(part, row + step, Math.min(step, part.rows - row - step), reads[turn]!) : undefined;
			next?.catch(() => {}); // awaited next turn; a failure of an earlier stage comes first
			if (tensor.permuteHeads !== undefined) {
				// The whole part is one block: the other read buffer is free.
				const permuted = reads[turn]!.subarray(0, raw.length);
				permuteRows(raw, permuted, rows, rowBytes, tensor.permuteHeads);
				raw = permuted;
			}
			const encoding = buffers.engine.encode(raw, dtype, type.kernel, rows * part.cols, out);
			encoding.catch(() => {}); // awaited below, after the previous block's write
			await written;
			await encoding;
			written = writer.write(out).then(() => onBytes?.(rows * rowBytes));
		}
		await written;
	}
}
