/**
 * A model's weights with LoRA adapters applied as they are read: every tensor an adapter changes is
 * served as float32 rows computed on demand (edited-rows.ts) from the base rows, nothing else is
 * materialised. Everything that reads weights (the shard writer, the gates' forward pass, embedding
 * sums) sees the adapted model without knowing it, and every other tensor is the model's own.
 */
import { ModelError } from "../errors.js";
import { type ModelWeights, type TensorInfo, type TensorLocation, type TensorReader, isFloatDType } from "../safetensors/index.js";
import type { LinearBackend } from "../model/linear-backend.js";
import type { LoraAdapter } from "./adapter-files.js";
import { DeltaProducts, editedRows } from "./edited-rows.js";
import { type TensorEdit, planEdits } from "./plan-edits.js";
import { CheckpointRows } from "./row-spaces.js";

export interface AdaptedWeights {
	weights: ModelWeights;
	/** Names of the tensors the adapters change. */
	edited: string[];
}

/** Checks every adapter against the model (shapes, modules) and returns its weights with them applied. */
export async function applyAdapters(weights: ModelWeights, adapters: readonly LoraAdapter[], backend: LinearBackend, options: { tiedHead: boolean }): Promise<AdaptedWeights> {
	const shapes = new Map(weights.names().map((n) => [n, weights.get(n).info.shape] as const));
	const edits = await planEdits(adapters, new CheckpointRows(shapes), options.tiedHead);
	const replaced = new Map<string, TensorLocation>();
	for (const [name, list] of edits) {
		const base = weights.get(name);
		if (!isFloatDType(base.info.dtype)) throw new ModelError(`${base.file.path}: ${name} is ${base.info.dtype}: a LoRA can only be applied to F32, F16 or BF16 weights (${adapters.map((a) => a.name).join(", ")})`, { file: base.file.path });
		replaced.set(name, editedTensor(base, list, adapters, backend));
	}
	return { weights: weights.withTensors(replaced), edited: [...edits.keys()] };
}

function editedTensor(base: TensorLocation, edits: readonly TensorEdit[], adapters: readonly LoraAdapter[], backend: LinearBackend): TensorLocation {
	const shape = base.info.shape;
	const cols = shape[shape.length - 1] ?? 1;
	const count = shape.reduce((a, b) => a * b, 1);
	const rows = count / cols;
	const info: TensorInfo = { name: base.info.name, dtype: "F32", shape: [...shape], begin: 0, end: count * 4 };
	const sources = { base, adapters: adapters.map((a) => a.file) };
	const products = new DeltaProducts(backend);
	/** The rows computed last: readers go through a tensor in order, a chunk boundary can fall inside a row. */
	let cached: { first: number; values: Float32Array } | undefined;
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
		{
			if (offset % 4 !== 0 || length % 4 !== 0 || offset < 0 || offset + length > info.end) throw new RangeError(`${info.name}: read of bytes [${offset}, ${offset + length}) of a float32 tensor of ${info.end} bytes`);
			const firstElement = offset / 4;
			const endElement = firstElement + length / 4;
			const firstRow = Math.floor(firstElement / cols);
			const endRow = Math.ceil(endElement / cols);
			const covered = cached && cached.first <= firstRow && cached.first + cached.values.length / cols >= endRow;
			if (!covered) {
				const length = (endRow - firstRow) * cols;
				// The block buffer is reused while blocks are no larger (the writer's chunks are all alike).
				const values = cached && cached.values.buffer.byteLength >= length * 4 ? new Float32Array(cached.values.buffer, 0, length) : new Float32Array(length);
				await editedRows(edits, sources, cols, products, firstRow, endRow - firstRow, values);
				cached = { first: firstRow, values };
				if (endRow === rows) products.free();
			}
			const c = cached!;
			const from = firstElement - c.first * cols;
			into.set(new Uint8Array(c.values.buffer, c.values.byteOffset + from * 4, length));
			// The tensor's last rows were read: its block buffer is not needed any more.
			if (endRow === rows) cached = undefined;
		}
	}
	return { file: reader, info };
}
