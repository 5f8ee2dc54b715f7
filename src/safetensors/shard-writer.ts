/** Writes one planned output shard: header first, then tensor data appended in plan order. */
import { join } from "node:path";
import { OutputError } from "../errors.js";
import { HEADER_LENGTH_BYTES } from "./header.js";
import { SequentialFileWriter } from "./sequential-file-writer.js";
import { encodeShardHeader } from "./shard-header.js";
import type { ShardPlan } from "./shard-plan.js";

export interface ShardWriterOptions {
	/** Replace an existing file instead of failing (default false: never clobber a file by accident). */
	overwrite?: boolean;
	/** Use O_DIRECT where possible (default "auto"); see SequentialFileWriter. */
	direct?: "auto" | false;
	/** Compute the file's sha256 while writing (read it from `sha256` after finish). */
	sha256?: boolean;
	/** The caller's staging buffers (SequentialFileWriter's `buffers`). */
	buffers?: readonly Uint8Array[];
}

export class ShardWriter {
	readonly path: string;
	readonly shard: ShardPlan;
	private readonly file: SequentialFileWriter;
	private written = 0;
	private closed = false;

	private constructor(path: string, shard: ShardPlan, file: SequentialFileWriter) {
		this.path = path;
		this.shard = shard;
		this.file = file;
	}

	/** Creates `dir/shard.fileName` and writes its header. Pass the metadata given to planShards. */
	static async create(dir: string, shard: ShardPlan, metadata?: Record<string, string>, options: ShardWriterOptions = {}): Promise<ShardWriter> {
		const path = join(dir, shard.fileName);
		const json = encodeShardHeader(shard, metadata);
		const header = new Uint8Array(HEADER_LENGTH_BYTES + json.length);
		new DataView(header.buffer).setBigUint64(0, BigInt(json.length), true);
		header.set(json, HEADER_LENGTH_BYTES);

		let file: SequentialFileWriter;
		try {
			file = await SequentialFileWriter.open(path, { exclusive: !options.overwrite, direct: options.direct, sha256: options.sha256, buffers: options.buffers });
		} catch (error) {
			throw outputError(path, "cannot create output shard", error);
		}
		try {
			await file.append(header);
		} catch (error) {
			await file.abort();
			throw outputError(path, "cannot write output shard", error);
		}
		return new ShardWriter(path, shard, file);
	}

	/** Data bytes handed over so far. */
	get bytesWritten(): number {
		return this.written;
	}

	/** The shard's sha256 (hex) after finish, when created with `sha256: true`. */
	get sha256(): string | undefined {
		return this.file.sha256;
	}

	/** True when the data bypasses the page cache (O_DIRECT). */
	get direct(): boolean {
		return this.file.direct;
	}

	/** Appends data bytes of the current tensor, in plan order, by copy: `chunk` may be reused once this resolves. */
	async write(chunk: Uint8Array): Promise<void> {
		this.claim(chunk.length);
		try {
			await this.file.append(chunk);
		} catch (error) {
			throw outputError(this.path, `cannot write tensor data (${this.tensorAt(this.written)})`, error);
		}
		this.written += chunk.length;
	}

	/**
	 * Zero-copy path: a view of up to `max` bytes of the output buffer to fill in place (read a
	 * source tensor straight into it, or convert into it), followed by commit() with the count filled.
	 */
	reserve(max: number): Uint8Array {
		if (this.closed) throw new Error(`${this.path}: reserve after the shard was closed`);
		return this.file.reserve(Math.min(max, this.shard.dataBytes - this.written));
	}

	/** The bytes reserved (and those of the current staging buffer) are read elsewhere until `done` settles (SequentialFileWriter.holdUntil). */
	holdUntil(done: Promise<void>): void {
		this.file.holdUntil(done);
	}

	async commit(n: number): Promise<void> {
		this.claim(n);
		try {
			await this.file.commit(n);
		} catch (error) {
			throw outputError(this.path, `cannot write tensor data (${this.tensorAt(this.written)})`, error);
		}
		this.written += n;
	}

	/** Checks every planned byte was written, then writes the rest, fdatasync and close. */
	async finish(): Promise<void> {
		if (this.closed) throw new Error(`${this.path}: finish after the shard was closed`);
		if (this.written !== this.shard.dataBytes) {
			const missing = `${this.shard.dataBytes - this.written} of ${this.shard.dataBytes} data bytes were never written (${this.tensorAt(this.written)})`;
			await this.abort();
			throw new Error(`${this.path}: bug: ${missing}`);
		}
		this.closed = true;
		try {
			await this.file.finish();
		} catch (error) {
			await this.file.abort();
			throw outputError(this.path, "cannot write the output shard to disk", error);
		}
	}

	/** Closes the file without any check (after an error elsewhere). The partial file is left on disk. */
	async abort(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		await this.file.abort();
	}

	private claim(n: number): void {
		if (this.closed) throw new Error(`${this.path}: write after the shard was closed`);
		if (this.written + n > this.shard.dataBytes) {
			throw new Error(
				`${this.path}: bug: writing ${n} bytes at data byte ${this.written} (${this.tensorAt(this.written)}) exceeds the ${this.shard.dataBytes} bytes planned`,
			);
		}
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
