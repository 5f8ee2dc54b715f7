/**
 * The rows of a checkpoint tensor with the adapters' edits applied, in float32: a block of whole rows
 * at a time, so memory stays one block plus the adapters whatever the tensor's size. B·A is a GEMM on
 * the LinearBackend (the WebAssembly kernels in the product, the plain reference in tests):
 * delta[rows, cols] = B[rows, r] · A[r, cols] is `linear(x = B, W = Aᵀ [cols, r])`.
 */
import type { LinearBackend } from "../model/linear-backend.js";
import type { SafetensorsFile, TensorInfo, TensorReader } from "../safetensors/index.js";
import { convertDtype, dtypeBytes, toFloat32 } from "../safetensors/index.js";
import type { DeltaEdit, TensorEdit } from "./plan-edits.js";
import { BufferPool } from "./buffer-pool.js";

/** Where the unedited rows, and each adapter's replacement tensors, are read from. */
export interface RowSources {
	base: { file: TensorReader; info: TensorInfo };
	/** The open adapter files, by adapter index. */
	adapters: readonly SafetensorsFile[];
}

/** Buffers reused from block to block (fresh ones per block would leave the garbage collector hundreds of MB behind). */
interface Scratch {
	delta?: Float32Array;
	bytes?: Uint8Array;
}

/** Aᵀ of each delta edit, prepared on the backend once per tensor, and the scratch buffers of one tensor's blocks. */
export class DeltaProducts {
	private readonly packed = new Map<DeltaEdit, unknown>();
	readonly scratch: Scratch = {};
	constructor(
		private readonly backend: LinearBackend,
		/** Where scratch buffers come from and go back to, shared by the tensors of one model. */
		readonly pool = new BufferPool(),
	) {}

	/** delta rows [first, first + count) of the edit (edit-relative), unscaled, into out [count, cols]. */
	async rows(edit: DeltaEdit, first: number, count: number, out: Float32Array): Promise<void> {
		await this.backend.linear(edit.b.subarray(first * edit.rank, (first + count) * edit.rank), count, await this.pack(edit), { out });
	}

	/** Whether the backend folds deltas into rows itself (foldLinear). */
	get folds(): boolean {
		return this.backend.foldLinear !== undefined;
	}

	/** Rows [first, first + count) of the edit (edit-relative) folded by the backend: out = base + scale·delta, in outDtype. */
	async fold(edit: DeltaEdit, first: number, count: number, base: Uint8Array, baseDtype: FoldDType, out: Uint8Array, outDtype: FoldDType): Promise<void> {
		const w = await this.pack(edit);
		await this.backend.foldLinear!(edit.b.subarray(first * edit.rank, (first + count) * edit.rank), count, w, { base, baseDtype, scale: edit.scale, out, outDtype });
	}

	private async pack(edit: DeltaEdit): Promise<unknown> {
		let w = this.packed.get(edit);
		if (w === undefined) {
			const at = new Float32Array(edit.cols * edit.rank);
			for (let k = 0; k < edit.rank; k++) for (let j = 0; j < edit.cols; j++) at[j * edit.rank + k] = edit.a[k * edit.cols + j];
			w = await this.backend.packLinear(new Uint8Array(at.buffer, at.byteOffset, at.byteLength), "F32", edit.cols, edit.rank);
			this.packed.set(edit, w);
		}
		return w;
	}

	/** Frees what was packed (after the tensor is written). */
	free(): void {
		for (const w of this.packed.values()) this.backend.free(w);
		this.packed.clear();
		this.pool.give(this.scratch.delta?.buffer);
		this.pool.give(this.scratch.bytes?.buffer);
		this.scratch.delta = undefined;
		this.scratch.bytes = undefined;
	}
}

/**
 * Rows [first, first + count) of the edited tensor into out: the base rows, then each adapter in turn
 * (its replacement, then W + scale·ΔW; with DoRA, each row times magnitude / ‖W + scale·ΔW‖), values
 * kept in float32 between adapters and rounded to the output dtype once, by the writer.
 */
export async function editedRows(edits: readonly TensorEdit[], sources: RowSources, cols: number, products: DeltaProducts, first: number, count: number, out: Float32Array): Promise<void> {
	await readRows(sources.base.file, sources.base.info, cols, first, count, out, products);
	let delta = products.scratch.delta;
	for (const edit of edits) {
		if (edit.kind === "replace") {
			await readRows(sources.adapters[edit.adapter], edit.info, cols, first, count, out, products);
			continue;
		}
		const from = Math.max(first, edit.rowStart);
		const to = Math.min(first + count, edit.rowStart + edit.rows);
		if (from >= to) continue;
		const n = to - from;
		if (!delta || delta.length < n * cols) {
			products.pool.give(delta?.buffer);
			delta = products.scratch.delta = new Float32Array(products.pool.take(n * cols * 4));
		}
		const d = delta.subarray(0, n * cols);
		await products.rows(edit, from - edit.rowStart, n, d);
		applyDelta(out.subarray((from - first) * cols, (to - first) * cols), d, edit.scale, cols, edit.magnitude?.subarray(from - edit.rowStart, to - edit.rowStart));
	}
}

/** The dtypes the backend's fused fold reads and writes. */
export type FoldDType = "F32" | "BF16";

/**
 * Whether a tensor's edits can be folded straight into the output dtype: plain deltas (no DoRA, no
 * replacement), each row changed by at most one of them, so each value is rounded once either way.
 */
export function foldable(edits: readonly TensorEdit[]): edits is DeltaEdit[] {
	if (!edits.every((e) => e.kind === "delta" && !e.magnitude)) return false;
	const spans = (edits as DeltaEdit[]).map((e) => [e.rowStart, e.rowStart + e.rows]).sort((a, b) => a[0] - b[0]);
	return spans.every((span, i) => i === 0 || span[0] >= spans[i - 1][1]);
}

/**
 * Rows [first, first + count) of a tensor whose edits are foldable, straight in the output dtype: each
 * edit's rows folded by the backend (w + scale·B·A rounded once, the bits editedRows and the writer's
 * conversion give), the rows no edit changes converted from the base.
 */
export async function foldedRows(edits: readonly DeltaEdit[], sources: RowSources, cols: number, products: DeltaProducts, first: number, count: number, out: Uint8Array, outDtype: FoldDType): Promise<void> {
	const baseDtype = sources.base.info.dtype as FoldDType;
	const inWidth = dtypeBytes(baseDtype);
	const outWidth = dtypeBytes(outDtype);
	const bytes = await readBytes(sources.base.file, sources.base.info, cols, first, count, products);
	const spans = edits.map((edit) => ({ edit, from: Math.max(first, edit.rowStart), to: Math.min(first + count, edit.rowStart + edit.rows) })).filter((s) => s.from < s.to);
	if (spans.reduce((sum, s) => sum + s.to - s.from, 0) < count) convertDtype(bytes, baseDtype, out, outDtype, count * cols);
	for (const { edit, from, to } of spans) {
		const base = bytes.subarray((from - first) * cols * inWidth, (to - first) * cols * inWidth);
		await products.fold(edit, from - edit.rowStart, to - from, base, baseDtype, out.subarray((from - first) * cols * outWidth, (to - first) * cols * outWidth), outDtype);
	}
}

/** w += scale·d (in float64, stored as float32); with magnitudes, DoRA: w = m / ‖w + scale·d‖ · (w + scale·d) per row. */
export function applyDelta(w: Float32Array, d: Float32Array, scale: number, cols: number, magnitude?: Float32Array): void {
	if (!magnitude) {
		for (let i = 0; i < w.length; i++) w[i] = w[i] + scale * d[i];
		return;
	}
	const rows = w.length / cols;
	for (let r = 0; r < rows; r++) {
		const o = r * cols;
		let sum = 0;
		for (let j = 0; j < cols; j++) {
			const v = w[o + j] + scale * d[j + o];
			sum += v * v;
		}
		const factor = magnitude[r] / Math.sqrt(sum);
		for (let j = 0; j < cols; j++) w[o + j] = factor * (w[o + j] + scale * d[o + j]);
	}
}

async function readRows(file: TensorReader, info: TensorInfo, cols: number, first: number, count: number, out: Float32Array, products: DeltaProducts): Promise<void> {
	const bytes = await readBytes(file, info, cols, first, count, products);
	toFloat32(bytes, info.dtype, count * cols, out.subarray(0, count * cols));
}

/** The bytes of rows [first, first + count) as stored, in the scratch buffer. */
async function readBytes(file: TensorReader, info: TensorInfo, cols: number, first: number, count: number, products: DeltaProducts): Promise<Uint8Array> {
	const { scratch, pool } = products;
	const width = dtypeBytes(info.dtype);
	if (!scratch.bytes || scratch.bytes.length < count * cols * width) {
		pool.give(scratch.bytes?.buffer);
		scratch.bytes = new Uint8Array(pool.take(count * cols * width));
	}
	const bytes = scratch.bytes.subarray(0, count * cols * width);
	await file.read(info, first * cols * width, bytes.length, bytes);
	return bytes;
}
