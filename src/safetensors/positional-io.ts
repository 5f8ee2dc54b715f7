/** Positional file I/O that loops until the whole range is done (fs may return short counts). */
import type { FileHandle } from "node:fs/promises";

/**
 * Reads `into.length` bytes at `position`. Returns how many bytes were read: fewer than asked only at
 * end of file, which callers report as truncation.
 */
export async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
	let done = 0;
	while (done < into.length) {
		const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
		if (bytesRead === 0) break;
		done += bytesRead;
	}
	return done;
}

/** Writes all of `chunk` at `position`, straight from the caller's buffer (no copy). */
export async function writeFully(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
	let done = 0;
	while (done < chunk.length) {
		const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
		if (bytesWritten === 0) throw new Error(`write returned 0 bytes at position ${position + done}`);
		done += bytesWritten;
	}
}
