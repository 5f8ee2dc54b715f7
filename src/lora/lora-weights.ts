/**
 * A model's weights with LoRA adapters applied as they are read: every tensor an adapter changes is
 * served as float32 rows computed on demand (edited-rows.ts) from the base rows, nothing else is
 * materialised. Everything that reads weights (the shard writer, the gates' forward pass, embedding
 * sums) sees the adapted model without knowing it, and every other tensor is the model's own.
 */
import { ModelError } from "../errors.js";
import { type DType, type ModelWeights, type TensorInfo, type TensorLocation, type TensorReader, dtypeBytes, isFloatDType } from "../safetensors/index.js";
import type { LinearBackend } from "../model/linear-backend.js";
import type { LoraAdapter } from "./adapter-files.js";
import { DeltaProducts, type FoldDType, editedRows, foldable, foldedRows } from "./edited-rows.js";
import { type DeltaEdit, type TensorEdit, planEdits } from "./plan-edits.js";
import { CheckpointRows } from "./row-spaces.js";
import { BufferPool } from "./buffer-pool.js";

export interface AdaptedWeights {
	weights: ModelWeights;
	/** Names of the tensors the adapters change. */
	edited: string[];
}

export interface ApplyAdaptersOptions {
	tiedHead: boolean;
	/**
	 * The dtype each changed tensor (of this stored dtype) will be written in, when the reader only
	 * writes it (apply-lora): tensors whose edits allow it are then served in that dtype, folded and
	 * rounded by the backend's fused kernel (the same bits). Without it every changed tensor is served
	 * in float32 (a merge converts it later; its forward pass reads it).
	 */
	writtenAs?: (stored: DType) => DType;
}

/** Checks every adapter against the model (shapes, modules) and returns its weights with them applied. */
export async function applyAdapters(weights: ModelWeights, adapters: readonly LoraAdapter[], backend: LinearBackend, options: ApplyAdaptersOptions): Promise<AdaptedWeights> {
	const shapes = new Map(weights.names().map((n) => [n, weights.get(n).info.shape] as const));
	const edits = await planEdits(adapters, new CheckpointRows(shapes), options.tiedHead);
	const replaced = new Map<string, TensorLocation>();
	const pool = new BufferPool();
	for (const [name, list] of edits) {
		const base = weights.get(name);
		if (!isFloatDType(base.info.dtype)) throw new ModelError(`${base.file.path}: ${name} is ${base.info.dtype}: a LoRA can only be applied to F32, F16 or BF16 weights (${adapters.map((a) => a.name).join(", ")})`, { file: base.file.path });
		const written = options.writtenAs?.(base.info.dtype);
		const fold = backend.foldLinear && foldable(list) && isFoldDType(base.info.dtype) && written && isFoldDType(written) ? written : undefined;
		replaced.set(name, editedTensor(base, list, adapters, new DeltaProducts(backend, pool), fold));
	}
	return { weights: weights.withTensors(replaced), edited: [...edits.keys()] };
}

function isFoldDType(dtype: DType): dtype is FoldDType {
	return dtype === "F32" || dtype === "BF16";
}

/** The edited tensor as a reader of float32 rows, or with `fold` of rows in that dtype computed by the fused kernel. */
function editedTensor(base: TensorLocation, edits: readonly TensorEdit[], adapters: readonly LoraAdapter[], products: DeltaProducts, fold?: FoldDType): TensorLocation {
	const shape = base.info.shape;
	const cols = shape[shape.length - 1] ?? 1;
	const count = shape.reduce((a, b) => a * b, 1);
	const rows = count / cols;
	const dtype = fold ?? "F32";
	const width = dtypeBytes(dtype);
	const info: TensorInfo = { name: base.info.name, dtype, shape: [...shape], begin: 0, end: count * width };
	const sources = { base, adapters: adapters.map((a) => a.file) };
	/** The rows computed last: readers go through a tensor in order, a chunk boundary can fall inside a row. */
	let cached: { first: number; bytes: Uint8Array } | undefined;
	/** Reads one at a time: the shard writer and the gates' forward pass may read the same tensor at once, and they share the cache and the packed factors. */
	let queue: Promise<unknown> = Promise.resolve();
	const reader: TensorReader = {
		path: `${base.file.path} (${adapters.map((a) => a.name).join(", ")} applied)`,
		read(info, offset, length, into) {
			const next = queue.then(() => readNow(offset, length, into));
			queue = next.catch(() => {});
			return next;
		},
	};
	async function readNow(offset: number, length: number, into: Uint8Array): Promise<void> {
		if (offset % width !== 0 || length % width !== 0 || offset < 0 || offset + length > info.end) throw new RangeError(`${info.name}: read of bytes [${offset}, ${offset + length}) of a ${dtype} tensor of ${info.end} bytes`);
		const firstElement = offset / width;
		const endElement = firstElement + length / width;
		const firstRow = Math.floor(firstElement / cols);
		const endRow = Math.ceil(endElement / cols);
		const covered = cached && cached.first <= firstRow && cached.first + cached.bytes.length / width / cols >= endRow;
		if (!covered) {
			const size = (endRow - firstRow) * cols * width;
			// The block buffer is reused while blocks are no larger (the writer's chunks are all alike).
			let buffer = cached?.bytes.buffer;
			if (!buffer || buffer.byteLength < size) {
				products.pool.give(buffer);
				buffer = products.pool.take(size);
			}
			const bytes = new Uint8Array(buffer, 0, size);
			if (fold) await foldedRows(edits as DeltaEdit[], sources, cols, products, firstRow, endRow - firstRow, bytes, fold);
			else await editedRows(edits, sources, cols, products, firstRow, endRow - firstRow, new Float32Array(bytes.buffer, 0, size / 4));
			cached = { first: firstRow, bytes };
			if (endRow === rows) products.free();
		}
		const c = cached!;
		const from = (firstElement - c.first * cols) * width;
		into.set(c.bytes.subarray(from, from + length));
		// The tensor's last rows were read: its block buffer goes to the next tensor.
		if (endRow === rows) {
			products.pool.give(c.bytes.buffer);
			cached = undefined;
		}
	}
	return { file: reader, info };
}
