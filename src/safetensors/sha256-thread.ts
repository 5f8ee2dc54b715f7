/**
 * sha256 of bytes being written, computed on worker threads the process shares (node:crypto there,
 * ~1.6 GB/s a core), so that hashing what a SequentialFileWriter writes overlaps the main thread's
 * converting and copying instead of taking turns with it. Files written at once (a merge's shard and
 * its GGUF file) hash on different threads (up to HASH_THREADS), so that neither waits in the other's
 * queue. Bytes go over as views of shared memory (SharedArrayBuffer: no copy); they must not change
 * until update() resolves.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

interface Reply {
	seq: number;
	hex?: string;
	error?: string;
}

/** At most this many hash threads (one per file being written at once). */
const HASH_THREADS = Math.min(2, availableParallelism());
const threads: HashThread[] = [];

/** The worker and the requests it has not answered yet. */
class HashThread {
	/** Hashes open on this thread. */
	streams = 0;
	private readonly worker: Worker;
	private readonly waiting = new Map<number, { resolve: (hex: string | undefined) => void; reject: (error: Error) => void }>();
	private seq = 0;
	private failure?: Error;

	constructor() {
		this.worker = new Worker(new URL("./sha256-worker.js", import.meta.url), { execArgv: [], name: "moe-merge-sha256" });
		this.worker.unref();
		this.worker.on("message", (reply: Reply) => {
			const request = this.waiting.get(reply.seq);
			this.waiting.delete(reply.seq);
			if (this.waiting.size === 0) this.worker.unref();
			if (reply.error !== undefined) request?.reject(new Error(`sha256 thread: ${reply.error}`));
			else request?.resolve(reply.hex);
		});
		const fail = (error: Error) => {
			this.failure = error;
			for (const request of this.waiting.values()) request.reject(error);
			this.waiting.clear();
			const index = threads.indexOf(this);
			if (index >= 0) threads.splice(index, 1);
		};
		this.worker.on("error", (error) => fail(new Error(`sha256 thread failed: ${error.message}`, { cause: error })));
		this.worker.on("exit", (code) => fail(new Error(`sha256 thread exited (code ${code})`)));
	}

	request(message: { op: "open" | "update" | "digest" | "drop"; id: number; bytes?: Uint8Array }): Promise<string | undefined> {
		if (this.failure) return Promise.reject(this.failure);
		const seq = ++this.seq;
		return new Promise((resolve, reject) => {
			this.waiting.set(seq, { resolve, reject });
			// Referenced while it owes an answer: the process waits for it.
			this.worker.ref();
			this.worker.postMessage({ ...message, seq });
		});
	}
}

let ids = 0;

/** One running sha256 (updates are applied in call order). */
export class Sha256Stream {
	private readonly thread: HashThread;
	private readonly id = ++ids;
	private last: Promise<unknown>;
	/** Digested or dropped: no longer counted on its thread. */
	private closed = false;

	constructor() {
		// The least busy thread; a new one while there are fewer than HASH_THREADS and all are busy.
		let thread = threads.reduce<HashThread | undefined>((best, t) => (best && best.streams <= t.streams ? best : t), undefined);
		if (!thread || (thread.streams > 0 && threads.length < HASH_THREADS)) threads.push((thread = new HashThread()));
		thread.streams++;
		this.thread = thread;
		this.last = this.thread.request({ op: "open", id: this.id });
	}

	/** Adds `bytes` (a view of a SharedArrayBuffer, unchanged until this resolves). */
	update(bytes: Uint8Array): Promise<void> {
		if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError("Sha256Stream.update: the bytes must be in shared memory");
		const done = this.thread.request({ op: "update", id: this.id, bytes }).then(() => undefined);
		this.last = done;
		return done;
	}

	/** The hex digest of everything added (after the updates already made). */
	async digest(): Promise<string> {
		await this.last;
		try {
			return (await this.thread.request({ op: "digest", id: this.id }))!;
		} finally {
			this.close();
		}
	}

	/** Forgets the hash (a file abandoned half-written). */
	drop(): void {
		this.thread.request({ op: "drop", id: this.id }).catch(() => {});
		this.close();
	}

	private close(): void {
		if (!this.closed) this.thread.streams--;
		this.closed = true;
	}
}
