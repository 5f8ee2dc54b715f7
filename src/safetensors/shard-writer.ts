/** Writes one planned output shard: header first, then tensor data appended in plan order. */
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { OutputError } from "../errors.js";
import { HEADER_LENGTH_BYTES } from "./header.js";
import { writeFully } from "./positional-io.js";
import { encodeShardHeader } from "./shard-header.js";
import type { ShardPlan } from "./shard-plan.js";

export interface ShardWriterOptions {
	/** Replace an existing file instead of failing (default false: never clobber a file by accident). */
	overwrite?: boolean;
}

export class ShardWriter {
	readonly path: string;
	readonly shard: ShardPlan;
	private readonly handle: FileHandle;
	/** absolute offset of the first data byte */
	private readonly dataStart: number;
	/** bytes handed to write(), including writes still in flight: positions are claimed synchronously */
	private claimed = 0;
	private written = 0;
	private closed = false;

	private constructor(path: string, shard: ShardPlan, handle: FileHandle, dataStart: number) {
		this.path = path;
		this.shard = shard;
		this.handle = handle;
		this.dataStart = dataStart;
	}

	/** Creates `dir/shard.fileName` and writes its header. Pass the metadata given to planShards. */
	static async create(dir: string, shard: ShardPlan, metadata?: Record<string, string>, options: ShardWriterOptions = {}): Promise<ShardWriter> {
		const path = join(dir, shard.fileName);
		const json = encodeShardHeader(shard, metadata);
		const header = new Uint8Array(HEADER_LENGTH_BYTES + json.length);
		new DataView(header.buffer).setBigUint64(0, BigInt(json.length), true);
		header.set(json, HEADER_LENGTH_BYTES);

		let handle: FileHandle;
		try {
			handle = await open(path, options.overwrite ? "w" : "wx");
		} catch (error) {
			throw outputError(path, "cannot create output shard", error);
		}
		try {
			await writeFully(handle, header, 0);
		} catch (error) {
			await handle.close().catch(() => undefined);
			throw outputError(path, "cannot write output shard", error);
		}
		return new ShardWriter(path, shard, handle, header.length);
	}

	/** Data bytes written so far (completed writes only). */
	get bytesWritten(): number {
		return this.written;
	}

	/**
	 * Appends data bytes of the current tensor, in plan order. Writes straight from `chunk` (no copy):
	 * reuse the buffer only after the promise resolves. Several writes may be in flight at once.
	 */
	async write(chunk: Uint8Array): Promise<void> {
		if (this.closed) throw new Error(`${this.path}: write after the shard was closed`);
		const position = this.claimed;
		if (position + chunk.length > this.shard.dataBytes) {
			throw new Error(
				`${this.path}: bug: writing ${chunk.length} bytes at data byte ${position} (${this.tensorAt(position)}) exceeds the ${this.shard.dataBytes} bytes planned`,
			);
		}
		this.claimed += chunk.length;
		try {
			await writeFully(this.handle, chunk, this.dataStart + position);
		} catch (error) {
			throw outputError(this.path, `cannot write tensor data (${this.tensorAt(position)})`, error);
		}
		this.written += chunk.length;
	}

	/** Checks every planned byte was written, then fdatasync and close. */
	async finish(): Promise<void> {
		if (this.closed) throw new Error(`${this.path}: finish after the shard was closed`);
		if (this.written !== this.shard.dataBytes) {
			const missing = `${this.shard.dataBytes - this.written} of ${this.shard.dataBytes} data bytes were never written (${this.tensorAt(this.written)})`;
			await this.abort();
			throw new Error(`${this.path}: bug: ${missing}`);
		}
		this.closed = true;
		try {
			await this.handle.datasync();
		} catch (error) {
			await this.handle.close().catch(() => undefined);
			throw outputError(this.path, "cannot flush output shard to disk", error);
		}
		try {
			await this.handle.close();
		} catch (error) {
			throw outputError(this.path, "cannot close output shard", error);
		}
	}

	/** Closes the file without any check (after an error elsewhere). The partial file is left on disk. */
	async abort(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		await this.handle.close().catch(() => undefined);
	}

	/** Names the tensor that data byte `position` belongs to, for error messages. */
	private tensorAt(position: number): string {
		let begin = 0;
		for (const { spec, byteLength } of this.shard.tensors) {
			if (position < begin + byteLength) return `tensor "${spec.name}" byte ${position - begin}`;
			begin += byteLength;
		}
		return "past the last tensor";
	}
}

const HINTS: Record<string, string> = {
	ENOSPC: "the disk is full; free some space or choose another output folder",
	EDQUOT: "the disk quota is exhausted; free some space or choose another output folder",
	EEXIST: "the file already exists; remove it or choose an empty output folder",
	EACCES: "no permission to write there; choose another output folder",
	EPERM: "no permission to write there; choose another output folder",
	EROFS: "the file system is read-only; choose another output folder",
	ENOENT: "the output folder does not exist",
};

function outputError(path: string, what: string, error: unknown): OutputError {
	const code = (error as NodeJS.ErrnoException)?.code;
	const detail = code ? `${code} (${(error as Error).message})` : String((error as Error)?.message ?? error);
	return new OutputError(`${path}: ${what}: ${detail}`, { file: path, hint: code ? HINTS[code] : undefined, cause: error });
}
