import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { sha256File } from "../util/sha256.js";
import { runPool } from "../util/run-pool.js";

/** Below this, a worker thread costs more than it saves. */
const WORKER_MIN_BYTES = 16 << 20;

export interface HashFilesOptions {
	/** Files hashed at the same time, each big one on its own thread (default: the number of cores). */
	concurrency?: number;
	/** Stops the workers (their results are dropped). */
	signal?: AbortSignal;
	/** Read big files with O_DIRECT where the file system allows: for files written that way (our shards), not in the page cache. */
	direct?: boolean;
}

/**
 * sha256 of many files, big ones in worker threads so that several cores hash at once (one core hashes
 * about 1.5 GB/s, slower than a merge writes on a fast disk). Memory: 16 MB per worker.
 */
export async function sha256Files(paths: readonly string[], options: HashFilesOptions = {}): Promise<Map<string, string>> {
	const hashes = new Map<string, string>();
	const concurrency = options.concurrency ?? availableParallelism();
	await runPool([...new Set(paths)], concurrency, async (path) => {
		options.signal?.throwIfAborted();
		const big = (await stat(path)).size >= WORKER_MIN_BYTES;
		hashes.set(path, big ? await hashInWorker(path, options.signal, options.direct === true) : await sha256File(path));
	});
	return hashes;
}

function hashInWorker(path: string, signal: AbortSignal | undefined, direct: boolean): Promise<string> {
	return new Promise((resolve, reject) => {
		const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { workerData: { path, direct } });
		const abort = () => void worker.terminate();
		signal?.addEventListener("abort", abort, { once: true });
		worker.once("message", (hex: string) => resolve(hex));
		worker.once("error", reject);
		worker.once("exit", (code) => {
			signal?.removeEventListener("abort", abort);
			if (signal?.aborted) reject(signal.reason);
			else if (code !== 0) reject(new Error(`hashing ${path}: the worker stopped with code ${code}`));
		});
	});
}
