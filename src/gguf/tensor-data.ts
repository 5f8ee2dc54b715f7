/**
 * Streams the data of planned GGUF tensors into a GgufWriter, one pipeline across all of them: source
 * rows are read a block at a time into the compute engine's shared memory, several blocks ahead, and
 * the engine's workers (WebAssembly SIMD) encode each block straight into the writer's staging buffers
 * when those are the engine's too (encodeInto), which the writer then writes to disk (and hashes, on its
 * thread) behind. The main thread only starts reads and encodes: reading, encoding, writing and hashing
 * all overlap, also from one tensor to the next. A q/k projection's rows are permuted for llama.cpp's rope
 * a block of whole heads at a time, as raw bytes before encoding (a row permutation commutes with converting
 * or quantizing rows). Memory: READ_AHEAD blocks, whatever the model's size.
 */
import type { ComputeEngine, LinearDType, RawBuffer } from "../kernels/engine.js";
import { dtypeBytes } from "../safetensors/dtype.js";
import type { GgufWriter } from "./gguf-writer.js";
import { type PlannedGgufTensor, type SourceSlice } from "./plan-gguf.js";
import { type GgufTensorType, tensorBytes } from "./tensor-types.js";

/** Source bytes read per block. */
const STEP_BYTES = 16 << 20;
/** Blocks read ahead of the one being encoded (each a read buffer): reads stay queued while the disk or cache serves them. */
const READ_AHEAD = 3;

/**
 * Rows of a [rows, cols] matrix of `rowBytes` bytes each, permuted as the converter's
 * LlamaModel.permute(w, heads) (reshape(heads, 2, half, cols).swapaxes(1, 2)): from `src` into `dst`.
 * Heads are independent: a block of whole heads is permuted on its own.
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

/**
 * `count` values of `src` (raw `dtype` bytes) encoded as `type` into the writer's current tensor: into its
 * staging space in place (no copy when that space is the engine's memory), a staging buffer's worth at a
 * time. At a buffer's end too small for one block (a Q8_0 block straddling it), that block goes by copy.
 */
export async function encodeInto(writer: GgufWriter, engine: ComputeEngine, src: Uint8Array, dtype: LinearDType, type: GgufTensorType, count: number): Promise<void> {
	const inBytes = dtypeBytes(dtype);
	for (let at = 0; at < count; ) {
		const view = writer.reserve(tensorBytes(type, count - at));
		const blocks = Math.floor(view.length / type.typeSize);
		const n = Math.max(1, blocks) * type.blockSize;
		const input = src.subarray(at * inBytes, (at + n) * inBytes);
		if (blocks > 0) {
			const out = view.subarray(0, tensorBytes(type, n));
			await engine.encode(input, dtype, type.kernel, n, out);
			await writer.commit(out.length);
		} else {
			const out = new Uint8Array(type.typeSize);
			await engine.encode(input, dtype, type.kernel, n, out);
			await writer.write(out);
		}
		at += n;
	}
}

/** One step of the pipeline: a block of a source part's rows, or a computed part. */
type Block =
	| { kind: "rows"; tensor: PlannedGgufTensor; slice: SourceSlice; firstRow: number; rows: number }
	| { kind: "values"; tensor: PlannedGgufTensor; values: Float32Array };

/** Each part in blocks of rows of at most STEP_BYTES (whole heads for a permuted q/k projection). */
function* blocksOf(tensors: readonly PlannedGgufTensor[]): Generator<Block> {
	for (const tensor of tensors) {
		for (const part of tensor.parts) {
			if (part.kind === "values") {
				yield { kind: "values", tensor, values: part.values };
				continue;
			}
			const rowBytes = part.cols * dtypeBytes(part.location.info.dtype);
			const unit = tensor.permuteHeads !== undefined ? part.rows / tensor.permuteHeads : 1;
			if (!Number.isInteger(unit)) throw new Error(`${tensor.name}: cannot permute ${part.rows} rows for ${tensor.permuteHeads} heads`);
			const step = unit * Math.max(1, Math.floor(STEP_BYTES / (rowBytes * unit)));
			for (let row = 0; row < part.rows; row += step) yield { kind: "rows", tensor, slice: part, firstRow: row, rows: Math.min(step, part.rows - row) };
		}
	}
}

/** Bytes of a block's source rows. */
function blockBytes(block: Extract<Block, { kind: "rows" }>): number {
	return block.rows * block.slice.cols * dtypeBytes(block.slice.location.info.dtype);
}

/**
 * Writes `tensors`' data, in order, into `writer` (whose next bytes are the first tensor's). `onBytes`
 * hears of source bytes done. The engine's buffers it takes are given back when it returns or throws.
 */
export async function writeTensorsData(writer: GgufWriter, tensors: readonly PlannedGgufTensor[], engine: ComputeEngine, onBytes?: (sourceBytes: number) => void): Promise<void> {
	const blocks = [...blocksOf(tensors)];
	const largest = Math.max(0, ...blocks.map((b) => (b.kind === "rows" ? blockBytes(b) : 0)));
	// No read buffers when every part is computed.
	const slots: RawBuffer[] = largest > 0 ? [...Array(READ_AHEAD)].map(() => engine.rawBuffer(largest)) : [];
	const permuted = blocks.some((b) => b.kind === "rows" && b.tensor.permuteHeads !== undefined) ? engine.rawBuffer(largest) : undefined;
	/** Reads in flight, by block index (each into slot index % READ_AHEAD). */
	const reads = new Map<number, Promise<Uint8Array>>();
	let issued = 0;
	const readAhead = (done: number) => {
		for (; issued < blocks.length && issued < done + READ_AHEAD; issued++) {
			const block = blocks[issued]!;
			if (block.kind !== "rows") continue;
			const read = readRows(block, slots[issued % READ_AHEAD]!.bytes);
			read.catch(() => {}); // awaited in its turn; an earlier failure comes first
			reads.set(issued, read);
		}
	};
	try {
		for (let i = 0; i < blocks.length; i++) {
			readAhead(i);
			const block = blocks[i]!;
			if (block.kind === "values") {
				await writer.write(encodeValues(block.tensor, block.values));
				continue;
			}
			let raw = await reads.get(i)!;
			reads.delete(i);
			const { tensor, slice } = block;
			if (tensor.permuteHeads !== undefined) {
				const rowBytes = raw.length / block.rows;
				const out = permuted!.bytes.subarray(0, raw.length);
				permuteRows(raw, out, block.rows, rowBytes, (tensor.permuteHeads * block.rows) / slice.rows);
				raw = out;
			}
			await encodeInto(writer, engine, raw, sourceDtype(slice), tensor.type, block.rows * slice.cols);
			onBytes?.(raw.length);
		}
	} finally {
		await Promise.allSettled(reads.values());
		await Promise.all([...slots, ...(permuted ? [permuted] : [])].map((s) => s.release()));
	}
}

async function readRows(block: Extract<Block, { kind: "rows" }>, buffer: Uint8Array): Promise<Uint8Array> {
	const { location, cols } = block.slice;
	const bytes = dtypeBytes(location.info.dtype);
	const raw = buffer.subarray(0, blockBytes(block));
	await location.file.read(location.info, (block.slice.firstRow + block.firstRow) * cols * bytes, raw.length, raw);
	return raw;
}

/** A computed part's values (a few: rope factors) encoded as the tensor's type, in plain code. */
export function encodeValues(tensor: PlannedGgufTensor, values: Float32Array): Uint8Array {
	const out = new Uint8Array(tensorBytes(tensor.type, values.length));
	tensor.type.encode(values, out);
	return out;
}
