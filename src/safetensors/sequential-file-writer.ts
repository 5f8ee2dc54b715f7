import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { DIRECT_IO_ALIGNMENT, allocateAligned } from "./aligned-buffer.js";
import { writeFully } from "./positional-io.js";
import { Sha256Stream } from "./sha256-thread.js";

export interface SequentialFileWriterOptions {
	/** Bytes per staging buffer (two are used); a multiple of 4096. Default 16 MiB. */
	bufferBytes?: number;
	/**
	 * The caller's own staging buffers instead (two or more, of one size, a multiple of 4096, each starting
	 * on a 4096-byte boundary of a SharedArrayBuffer): the compute engine's memory, say, so that its workers
	 * encode straight into them (StagingBuffers). With more than two, that many minus one can be on their way
	 * to disk while one is filled. The writer never frees them; they are free again once it is finished or aborted.
	 */
	buffers?: readonly Uint8Array[];
	/** Write with O_DIRECT where the OS and file system allow it ("auto", the default), never (false). */
	direct?: "auto" | false;
	/** Fail if the file exists (default true). */
	exclusive?: boolean;
	/** Compute the sha256 of the file while writing it (for lock files), instead of reading it back: on the hash thread, while the buffer is written. */
	sha256?: boolean;
}

const DEFAULT_BUFFER_BYTES = 16 << 20;

/**
 * Writes one file front to back through page-aligned staging buffers (two, or the caller's): callers fill one buffer
 * (in place, with reserve/commit, or by copy with append) while the other is being written.
 *
 * Why O_DIRECT: on the VMs our users run (and the one we measure on), buffered writes of a
 * multi-GB file spend most of their time in the kernel copying into and flushing the page cache
 * (dd from a cached file: ~0.4 GB/s, 4 s of system time per 2 GB); writing the same bytes with
 * O_DIRECT from aligned memory reaches the device speed with almost no CPU. File systems without
 * O_DIRECT (tmpfs, macOS) fall back to ordinary writes transparently.
 */
export class SequentialFileWriter {
	readonly path: string;
	private handle: FileHandle;
	private directIo: boolean;
	private readonly buffers: readonly Uint8Array[];
	/** Each buffer's write in flight. */
	private readonly pending: (Promise<void> | undefined)[];
	/** Each buffer's hashing in flight (the buffer is reused once it is written and hashed). */
	private readonly hashing: (Promise<void> | undefined)[];
	/** Each buffer's other readers (holdUntil): it is refilled once they are done too. */
	private readonly holds: (Promise<void> | undefined)[];
	private current = 0;
	private fill = 0;
	/** File position of the start of the current buffer. */
	private base = 0;
	private failure: unknown;
	private reopening?: Promise<void>;
	private readonly hash?: Sha256Stream;
	private digest?: string;
	private closed = false;

	private constructor(path: string, handle: FileHandle, direct: boolean, buffers: readonly Uint8Array[], sha256: boolean) {
		this.path = path;
		if (sha256) this.hash = new Sha256Stream();
		this.handle = handle;
		this.directIo = direct;
		this.buffers = buffers;
		this.pending = buffers.map(() => undefined);
		this.hashing = buffers.map(() => undefined);
		this.holds = buffers.map(() => undefined);
	}

	static async open(path: string, options: SequentialFileWriterOptions = {}): Promise<SequentialFileWriter> {
		const buffers = options.buffers ?? allocateBuffers(options.bufferBytes ?? DEFAULT_BUFFER_BYTES);
		checkBuffers(buffers);
		const flags = constants.O_WRONLY | constants.O_CREAT | (options.exclusive === false ? constants.O_TRUNC : constants.O_EXCL);
		const O_DIRECT = (constants as Record<string, number>).O_DIRECT;
		if (options.direct !== false && O_DIRECT) {
			try {
				return new SequentialFileWriter(path, await open(path, flags | O_DIRECT), true, buffers, options.sha256 === true);
			} catch (error) {
				// EINVAL: the file system does not do O_DIRECT (tmpfs). Anything else is real: report it.
				if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
			}
		}
		return new SequentialFileWriter(path, await open(path, flags), false, buffers, options.sha256 === true);
	}

	/** The file's sha256 (hex), once finished, when asked for. */
	get sha256(): string | undefined {
		return this.digest;
	}

	/** True while writes bypass the page cache. */
	get direct(): boolean {
		return this.directIo;
	}

	/** Bytes handed to the writer so far. */
	get position(): number {
		return this.base + this.fill;
	}

	/** A view of free space (at most `max` bytes, at least 1) to fill in place, then commit(). */
	reserve(max: number): Uint8Array {
		const buffer = this.buffers[this.current];
		return buffer.subarray(this.fill, this.fill + Math.min(max, buffer.length - this.fill));
	}

	/** Marks `n` bytes of the last reserve() as filled; starts writing the buffer when it is full. */
	async commit(n: number): Promise<void> {
		this.throwIfFailed();
		const buffer = this.buffers[this.current];
		if (n < 0 || this.fill + n > buffer.length) throw new Error(`${this.path}: bug: commit of ${n} bytes beyond the reserved space`);
		this.fill += n;
		if (this.fill === buffer.length) await this.rotate();
	}

	/**
	 * The bytes staged in the current buffer are read by someone else (a GGUF file encoding a merge's
	 * shard bytes where they are staged) until `done` settles: the buffer is not refilled before. A
	 * rejection fails the writer.
	 */
	holdUntil(done: Promise<void>): void {
		const tracked = done.catch((error) => {
			this.failure ??= error;
		});
		const before = this.holds[this.current];
		this.holds[this.current] = before ? Promise.all([before, tracked]).then(() => undefined) : tracked;
	}

	/** Copies `bytes` in (the caller may reuse them as soon as this resolves). */
	async append(bytes: Uint8Array): Promise<void> {
		for (let done = 0; done < bytes.length; ) {
			const view = this.reserve(bytes.length - done);
			view.set(bytes.subarray(done, done + view.length));
			done += view.length;
			await this.commit(view.length);
		}
	}

	/** Writes what is left, trims the block padding, fdatasyncs and closes. */
	async finish(): Promise<void> {
		const size = this.position;
		if (this.fill > 0) {
			// O_DIRECT writes whole blocks: pad the tail with zeros, then cut the file to its size.
			const length = this.directIo ? Math.ceil(this.fill / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT : this.fill;
			this.buffers[this.current].fill(0, this.fill, length);
			this.startWrite(this.current, length, this.fill);
		}
		await Promise.all(this.inFlight);
		this.throwIfFailed();
		if (this.directIo) await this.handle.truncate(size);
		await this.handle.datasync();
		this.digest = await this.hash?.digest();
		this.closed = true;
		await this.handle.close();
	}

	/** Closes without flushing (after an error elsewhere); waits for writes in flight. */
	async abort(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		await Promise.allSettled(this.inFlight);
		this.hash?.drop();
		await this.handle.close().catch(() => undefined);
	}

	/** Every buffer's write, hashing and other readers still going. */
	private get inFlight(): (Promise<void> | undefined)[] {
		return [...this.pending, ...this.hashing, ...this.holds];
	}

	private async rotate(): Promise<void> {
		const full = this.current;
		this.startWrite(full, this.buffers[full].length);
		this.base += this.buffers[full].length;
		this.current = (full + 1) % this.buffers.length;
		this.fill = 0;
		// The next buffer may still be on its way to disk (and the hash, and its other readers): wait before it is filled again.
		await this.pending[this.current];
		await this.hashing[this.current];
		await this.holds[this.current];
		this.holds[this.current] = undefined;
		this.throwIfFailed();
	}

	/** Starts writing `length` bytes of a buffer, of which the first `dataLength` are file content (the rest is O_DIRECT padding). */
	private startWrite(index: number, length: number, dataLength = length): void {
		const position = this.base;
		const data = this.buffers[index].subarray(0, length);
		this.pending[index] = this.writeAt(data, position).catch((error) => {
			this.failure ??= error;
		});
		// Hashed (on the hash thread) while the device reads the same unchanging buffer.
		this.hashing[index] = this.hash?.update(data.subarray(0, dataLength)).catch((error) => {
			this.failure ??= error;
		});
	}

	private async writeAt(data: Uint8Array, position: number): Promise<void> {
		try {
			await writeFully(this.handle, data, position);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== "EINVAL" || (!this.directIo && !this.reopening)) throw error;
			// Some file systems accept O_DIRECT at open but not the write: continue with the page cache.
			await this.reopenBuffered();
			await writeFully(this.handle, data, position);
		}
	}

	/** Both buffers' writes may fail at once: they share one reopen. */
	private reopenBuffered(): Promise<void> {
		this.reopening ??= (async () => {
			const old = this.handle;
			this.handle = await open(this.path, constants.O_WRONLY);
			this.directIo = false;
			await old.close().catch(() => undefined);
		})();
		return this.reopening;
	}

	private throwIfFailed(): void {
		if (this.failure !== undefined) throw this.failure;
	}
}

function allocateBuffers(bytes: number): Uint8Array[] {
	if (bytes <= 0 || bytes % DIRECT_IO_ALIGNMENT !== 0) throw new Error(`bufferBytes must be a positive multiple of ${DIRECT_IO_ALIGNMENT}`);
	return [allocateAligned(bytes), allocateAligned(bytes)];
}

/** Staging buffers as O_DIRECT and the hash thread take them. */
function checkBuffers(buffers: readonly Uint8Array[]): void {
	const size = buffers[0]?.length ?? 0;
	if (buffers.length < 2) throw new Error("SequentialFileWriter: at least two staging buffers are needed");
	for (const b of buffers) {
		if (b.length !== size || size % DIRECT_IO_ALIGNMENT !== 0 || b.byteOffset % DIRECT_IO_ALIGNMENT !== 0 || !(b.buffer instanceof SharedArrayBuffer)) {
			throw new Error(`SequentialFileWriter: staging buffers must be views of shared memory of one size, a multiple of ${DIRECT_IO_ALIGNMENT}, starting on a ${DIRECT_IO_ALIGNMENT}-byte boundary`);
		}
	}
}
