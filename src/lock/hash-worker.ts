/**
 * Worker thread body for hash-files.ts: sha256 of one file, read 16 MB at a time into two buffers, the
 * next read running while the previous buffer is hashed.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";

const CHUNK = 16 << 20;
const { path } = workerData as { path: string };

const file = await open(path, "r");
try {
	const hash = createHash("sha256");
	const buffers = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
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
