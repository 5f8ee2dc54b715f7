/**
 * Worker thread body for hash-files.ts: sha256 of one file, read 16 MB at a time into two buffers, the
 * next read running while the previous buffer is hashed.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import { allocateAligned } from "../safetensors/aligned-buffer.js";

const CHUNK = 16 << 20;
const { path, direct } = workerData as { path: string; direct?: boolean };

const file = direct ? await openDirect(path) : await open(path, "r");
try {
	const hash = createHash("sha256");
	// Page-aligned, as O_DIRECT needs (chunks and offsets are multiples of the block size).
	const buffers = direct ? [allocateAligned(CHUNK), allocateAligned(CHUNK)] : [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
	let position = 0;
	let turn = 0;
	let next = file.read(buffers[0], 0, CHUNK, 0);
	for (;;) {
		const { bytesRead } = await next;
		if (bytesRead === 0) break;
		const filled = buffers[turn];
		position += bytesRead;
		turn ^= 1;
		// A short read is the end of the file.
		next = bytesRead === CHUNK ? file.read(buffers[turn], 0, CHUNK, position) : Promise.resolve({ bytesRead: 0, buffer: buffers[turn] });
		hash.update(filled.subarray(0, bytesRead));
	}
	parentPort?.postMessage(hash.digest("hex"));
} finally {
	await file.close();
}

/**
 * Files the merge wrote with O_DIRECT are not in the page cache: reading them the same way runs at the
 * disk's speed instead of the page cache's copy (EINVAL: the file system has no O_DIRECT, e.g. tmpfs).
 */
async function openDirect(file: string): Promise<FileHandle> {
	const O_DIRECT = (constants as Record<string, number>).O_DIRECT;
	if (!O_DIRECT) return open(file, "r");
	return open(file, constants.O_RDONLY | O_DIRECT).catch((error: NodeJS.ErrnoException) => {
		if (error.code !== "EINVAL") throw error;
		return open(file, "r");
	});
}
