/**
 * Writes a GGUF file from a safetensors stream (a merge's writeShards) instead of reading a folder:
 * each output tensor's bytes, seen as they are written, are converted to the GGUF tensor's type and
 * appended to the GgufWriter when the file is at their place. The GGUF table is in the stream's order
 * (planGgufTensors), and a merge writes a layer's per-expert tensors projection by projection (every
 * expert's gate_proj, then every up_proj, then every down_proj: build-tensor-plan.ts), the order of the
 * GGUF stacks, so each stack's slices come one after another and nothing is held. What can come
 * before its place, and is held (encoded) until the file gets there: a fused gate_up_proj's up halves
 * (interleaved with the gate halves, expert by expert) until its gate stack is written, at most that
 * one stack per layer (a stream bringing the experts expert by expert would hold up to the expert
 * stacks of one layer). A tied model's `output.weight` (the embeddings again, right after them)
 * is routed the embeddings' rows too: held while the embeddings are written, at most that one tensor.
 * What does not stream by (the shards a resumed merge kept) is read from the finished shards by
 * finish(). The sha256 is the writer's, computed as it goes.
 */
import type { ComputeEngine } from "../kernels/engine.js";
import { dtypeBytes } from "../safetensors/dtype.js";
import type { TensorLocation } from "../safetensors/model-weights.js";
import type { GgufWriter } from "./gguf-writer.js";
import type { PlannedGgufTensor, SourceSlice } from "./plan-gguf.js";
import { encodeInto, encodeValues, permuteRows, sourceDtype, writeTensorsData } from "./tensor-data.js";
import { tensorBytes } from "./tensor-types.js";

/** Where rows of a streamed safetensors tensor go: part `part` of GGUF tensor `tensor`. */
interface Route {
	tensor: number;
	part: number;
	slice: SourceSlice;
}

/** A streamed tensor being received: its routes, rows done, and the bytes of a row not yet complete. */
interface Incoming {
	name: string;
	routes: Route[];
	rowBytes: number;
	row: number;
	carry: Uint8Array;
	carried: number;
}

export class GgufTap {
	private readonly routes = new Map<string, Route[]>();
	/** Encoded bytes that arrived before their place in the file, by `tensor/part`: a buffer of the part's size. */
	private readonly held = new Map<string, { bytes: Uint8Array; filled: number }>();
	/** Source bytes of a q/k projection, permuted once complete. */
	private readonly permuting = new Map<string, { bytes: Uint8Array; filled: number }>();
	private heldBytes = 0;
	/** The most bytes held at once (for the benchmark's memory figure). */
	maxHeldBytes = 0;
	private cursor = { tensor: 0, part: 0, filled: 0 };
	private incoming?: Incoming;
	/**
	 * Held parts' buffers once written, by size, for the next ones: every layer holds parts of the same
	 * sizes, so memory stays at what one layer holds instead of waiting for the garbage collector.
	 */
	private readonly pool = new Map<number, Uint8Array[]>();
	private failure?: unknown;
	/** The last chunk received, settled once it is handled (chunks are handled one after another). */
	private last: Promise<void> = Promise.resolve();

	/** `engine` encodes the tensor data (ComputeEngine.encode); the caller closes it. */
	constructor(private readonly writer: GgufWriter, private readonly tensors: readonly PlannedGgufTensor[], private readonly engine: ComputeEngine) {
		tensors.forEach((tensor, t) => {
			tensor.parts.forEach((slice, part) => {
				if (slice.kind !== "source") return;
				const name = slice.location.info.name;
				this.routes.set(name, [...(this.routes.get(name) ?? []), { tensor: t, part, slice }]);
			});
		});
	}

	get path(): string {
		return this.writer.path;
	}

	/**
	 * Bytes of safetensors tensor `name`, in order, as the stream writes them (any chunk size): encoded
	 * by the engine's workers straight into the GGUF writer's staging buffers (or held), behind the
	 * calls before; resolves once the bytes are no longer needed. Bytes in the engine's memory (the
	 * stream's staging buffers: MergeGgufWriters' tap) are encoded where they are; others are copied in.
	 */
	receive(name: string, bytes: Uint8Array): Promise<void> {
		if (this.failure !== undefined) return Promise.reject(this.failure);
		// A tensor no GGUF tensor takes (rotary inv_freq) is skipped.
		if (bytes.length === 0 || !this.routes.has(name)) return Promise.resolve();
		const task = this.last.then(() => this.receiveNow(name, bytes)).catch((error) => {
			this.failure ??= error;
			throw this.failure;
		});
		this.last = task.catch(() => {});
		return task;
	}

	private async receiveNow(name: string, bytes: Uint8Array): Promise<void> {
		if (this.incoming?.name !== name) this.incoming = this.start(name);
		const inc = this.incoming;
		if (!inc) return;
		let at = 0;
		if (inc.carried > 0) {
			const take = Math.min(bytes.length, inc.rowBytes - inc.carried);
			inc.carry.set(bytes.subarray(0, take), inc.carried);
			inc.carried += take;
			at = take;
			if (inc.carried < inc.rowBytes) return;
			inc.carried = 0;
			await this.rows(inc, inc.carry, 1);
		}
		const whole = Math.floor((bytes.length - at) / inc.rowBytes);
		if (whole > 0) await this.rows(inc, bytes.subarray(at, at + whole * inc.rowBytes), whole);
		at += whole * inc.rowBytes;
		if (at < bytes.length) {
			inc.carry.set(bytes.subarray(at), 0);
			inc.carried = bytes.length - at;
		}
	}

	/**
	 * Once the stream has ended and its shards are complete: writes the tensors whose bytes did not
	 * stream by, read through `locate` (the finished shards), then closes the file; returns its sha256.
	 */
	async finish(locate: (name: string) => TensorLocation, onBytes?: (sourceBytes: number) => void): Promise<string> {
		await this.last;
		if (this.failure !== undefined) throw this.failure;
		await this.drain();
		if (this.cursor.part !== 0 || this.cursor.filled !== 0) {
			const tensor = this.tensors[this.cursor.tensor]!;
			throw new Error(`${this.path}: bug: the stream ended inside GGUF tensor ${tensor.name}`);
		}
		if (this.heldBytes !== 0 || this.permuting.size !== 0) throw new Error(`${this.path}: bug: ${this.heldBytes} bytes still held when the stream ended`);
		const rest = this.tensors.slice(this.cursor.tensor).map((tensor) => ({
			...tensor,
			parts: tensor.parts.map((p) => (p.kind === "source" ? { ...p, location: locate(p.location.info.name) } : p)),
		}));
		await writeTensorsData(this.writer, rest, this.engine, onBytes);
		return this.writer.finish();
	}

	async abort(): Promise<void> {
		await this.last;
		await this.writer.abort();
	}

	private start(name: string): Incoming | undefined {
		const routes = this.routes.get(name);
		if (!routes) return undefined;
		const { cols, location } = routes[0]!.slice;
		const rowBytes = cols * dtypeBytes(location.info.dtype);
		return { name, routes, rowBytes, row: 0, carry: new Uint8Array(rowBytes), carried: 0 };
	}

	/** `count` whole rows of the incoming tensor: each route's share converted and delivered. */
	private async rows(inc: Incoming, raw: Uint8Array, count: number): Promise<void> {
		const first = inc.row;
		inc.row += count;
		for (const route of inc.routes) {
			const { slice } = route;
			const from = Math.max(first, slice.firstRow);
			const to = Math.min(first + count, slice.firstRow + slice.rows);
			if (from >= to) continue;
			const n = (to - from) * slice.cols;
			const rows = raw.subarray((from - first) * inc.rowBytes, (to - first) * inc.rowBytes);
			const tensor = this.tensors[route.tensor]!;
			const dtype = sourceDtype(slice);
			const size = tensorBytes(tensor.type, n);
			if (tensor.permuteHeads === undefined) {
				// Bytes at the file's place are encoded into it, ones that came early into their part's held buffer.
				if (!this.atCursor(route)) await this.engine.encode(rows, dtype, tensor.type.kernel, n, this.holdInto(route, size));
				else await this.appendEncoded(rows, dtype, tensor, n);
				continue;
			}
			// A q/k projection is permuted whole (as `moe-merge gguf` does): its rows are gathered first, as they came.
			const key = `${route.tensor}/${route.part}`;
			const gathered = this.permuting.get(key) ?? { bytes: new Uint8Array(slice.rows * inc.rowBytes), filled: 0 };
			gathered.bytes.set(rows, gathered.filled);
			gathered.filled += rows.length;
			this.permuting.set(key, gathered);
			if (gathered.filled < gathered.bytes.length) continue;
			this.permuting.delete(key);
			// Permuted straight into the engine's memory, encoded there.
			const permuted = this.engine.rawBuffer(gathered.bytes.length);
			try {
				permuteRows(gathered.bytes, permuted.bytes, slice.rows, inc.rowBytes, tensor.permuteHeads);
				const count = slice.rows * slice.cols;
				if (this.atCursor(route)) await this.appendEncoded(permuted.bytes, dtype, tensor, count);
				else await this.engine.encode(permuted.bytes, dtype, tensor.type.kernel, count, this.holdInto(route, tensorBytes(tensor.type, count)));
			} finally {
				await permuted.release();
			}
		}
	}

	/** `count` values of the part at the file's cursor, encoded into the file (encodeInto), then what was held for the parts after it. */
	private async appendEncoded(raw: Uint8Array, dtype: ReturnType<typeof sourceDtype>, tensor: PlannedGgufTensor, count: number): Promise<void> {
		await encodeInto(this.writer, this.engine, raw, dtype, tensor.type, count);
		this.advance(tensorBytes(tensor.type, count));
		await this.drain();
	}

	private atCursor(route: Route): boolean {
		return route.tensor === this.cursor.tensor && route.part === this.cursor.part;
	}

	/** The next `size` bytes of a held part's buffer (taken from the pool or allocated at the part's first bytes). */
	private holdInto(route: Route, size: number): Uint8Array {
		const key = `${route.tensor}/${route.part}`;
		let held = this.held.get(key);
		if (!held) {
			const bytes = this.partBytes(this.tensors[route.tensor]!, route.part);
			held = { bytes: this.pool.get(bytes)?.pop() ?? new Uint8Array(bytes), filled: 0 };
			this.held.set(key, held);
		}
		const view = held.bytes.subarray(held.filled, held.filled + size);
		if (view.length !== size) throw new Error(`${this.path}: bug: more bytes than ${this.tensors[route.tensor]!.name} has`);
		held.filled += size;
		this.heldBytes += size;
		this.maxHeldBytes = Math.max(this.maxHeldBytes, this.heldBytes);
		return view;
	}

	private async append(bytes: Uint8Array): Promise<void> {
		await this.writer.write(bytes);
		this.advance(bytes.length);
	}

	/** `n` bytes of the part at the cursor were written: moves on to the next part once it is complete. */
	private advance(n: number): void {
		this.cursor.filled += n;
		const tensor = this.tensors[this.cursor.tensor]!;
		if (this.cursor.filled === this.partBytes(tensor, this.cursor.part)) {
			this.cursor = tensor.parts.length > this.cursor.part + 1 ? { tensor: this.cursor.tensor, part: this.cursor.part + 1, filled: 0 } : { tensor: this.cursor.tensor + 1, part: 0, filled: 0 };
		}
	}

	/** Writes what was held (and computed values) for the parts the file has reached. */
	private async drain(): Promise<void> {
		for (;;) {
			const tensor = this.tensors[this.cursor.tensor];
			if (!tensor) return;
			const part = tensor.parts[this.cursor.part];
			if (!part || this.partBytes(tensor, this.cursor.part) === 0) {
				this.cursor = { tensor: this.cursor.tensor + 1, part: 0, filled: 0 };
				continue;
			}
			if (part.kind === "values") {
				await this.append(encodeValues(tensor, part.values));
				continue;
			}
			const key = `${this.cursor.tensor}/${this.cursor.part}`;
			const held = this.held.get(key);
			if (!held) return;
			this.held.delete(key);
			const at = this.cursor;
			this.heldBytes -= held.filled;
			await this.append(held.bytes.subarray(0, held.filled));
			// A copy's buffer (a whole embedding) is not needed again.
			if (tensor.copyOf === undefined) this.pool.set(held.bytes.length, [...(this.pool.get(held.bytes.length) ?? []), held.bytes]);
			// Still the same part: the rest of it has not streamed by yet.
			if (this.cursor === at) return;
		}
	}

	private partBytes(tensor: PlannedGgufTensor, part: number): number {
		const p = tensor.parts[part]!;
		return tensorBytes(tensor.type, p.kind === "values" ? p.values.length : p.rows * p.cols);
	}
}
