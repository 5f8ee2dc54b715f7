import { open, rename } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { StreamPush, UploadedFile } from "../hub/stream-push.js";
import type { ShardPlan } from "../safetensors/index.js";
import { readFully, writeFully } from "../safetensors/positional-io.js";
import type { ShardSink } from "./write-while-gating.js";

/**
 * The shards of a merge streamed to the Hub: each one is uploaded (without a commit) while the writer
 * writes the next, and the writer waits for the previous upload before handing over another, so at
 * most two shards are on disk. An uploaded shard is hollowed: the same size and header, no data blocks
 * (a sparse file), so the merge's own checks, which read headers and sizes, still see it.
 */
export class ShardUploads implements ShardSink {
	/** Shards uploaded and confirmed, in order. */
	readonly uploaded: UploadedFile[] = [];
	private previous: Promise<void> = Promise.resolve();

	constructor(
		private readonly push: StreamPush,
		private readonly onUploaded?: (file: UploadedFile) => void,
	) {}

	async shardWritten(path: string, shard: ShardPlan, sha256: string): Promise<void> {
		// A failed upload stops the merge here, before another shard is written.
		await this.previous;
		const file = { name: basename(path), size: shard.headerBytes + shard.dataBytes, sha256 };
		this.previous = this.upload(path, file, shard.headerBytes);
		this.previous.catch(() => {}); // awaited by the next shard or by drain()
	}

	requiredBytes(shards: readonly ShardPlan[]): number {
		const sizes = shards.map((s) => s.headerBytes + s.dataBytes).sort((a, b) => b - a);
		return (sizes[0] ?? 0) + (sizes[1] ?? 0);
	}

	/** Waits for the last upload; before the folder is committed. */
	async drain(): Promise<void> {
		await this.previous;
	}

	/** Resuming: the killed merge's shards the Hub already holds are kept, whatever their local copy. */
	readonly storedElsewhere = async (entry: { name: string; size: number; sha256: string }): Promise<boolean> => {
		const file = { name: entry.name, size: entry.size, sha256: entry.sha256 };
		if (!(await this.push.has(file))) return false;
		this.uploaded.push(file);
		return true;
	};

	private async upload(path: string, file: UploadedFile, headerBytes: number): Promise<void> {
		await this.push.uploadLargeFile(path, file);
		await hollowOut(path, headerBytes, file.size);
		this.uploaded.push(file);
		this.onUploaded?.(file);
	}
}

/**
 * Frees a file's data blocks, keeping its size and its first `keep` bytes (the safetensors header): a
 * sparse copy replaces it in one rename, so a reader never sees it half done.
 */
export async function hollowOut(path: string, keep: number, size: number): Promise<void> {
	const head = new Uint8Array(keep);
	const source = await open(path, "r");
	try {
		await readFully(source, head, 0);
	} finally {
		await source.close();
	}
	const temp = join(dirname(path), `.${basename(path)}.hollow`);
	const handle = await open(temp, "w");
	try {
		await writeFully(handle, head, 0);
		await handle.truncate(size);
		await handle.sync();
	} finally {
		await handle.close();
	}
	await rename(temp, path);
}
