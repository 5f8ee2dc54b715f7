import { open } from "node:fs/promises";
import { join } from "node:path";
import type { GgufLayout } from "../gguf/layout.js";
import { sha256Files } from "../lock/hash-files.js";
import { sha256Hex } from "../util/sha256.js";
import type { RecordedGguf } from "./resume-record.js";

/**
 * A GGUF file a resumed merge keeps instead of writing it again: the interrupted merge recorded it
 * complete (written, fsynced, hashed), it is still planned with the same header (metadata and tensor
 * table: same type, same tokenizer, same tensors) and size, the file on disk has that size and begins
 * with that header, and its sha256 is still the recorded one. Returns undefined when it is kept, else
 * why it is written again.
 */
export async function whyNotKept(dir: string, recorded: RecordedGguf, layout: GgufLayout, signal?: AbortSignal): Promise<string | undefined> {
	if (recorded.header !== sha256Hex(layout.header)) return "its planned metadata or tensor table changed";
	if (recorded.bytes !== layout.fileBytes) return `planned at ${layout.fileBytes} bytes, ${recorded.bytes} recorded`;
	const path = join(dir, recorded.name);
	const handle = await open(path, "r").catch(() => undefined);
	if (!handle) return "missing";
	try {
		const { size } = await handle.stat();
		if (size !== recorded.bytes) return `${size} bytes, ${recorded.bytes} recorded`;
		const header = Buffer.alloc(layout.header.length);
		await handle.read(header, 0, header.length, 0);
		if (!header.equals(layout.header)) return "its header is not the planned one";
	} finally {
		await handle.close();
	}
	// Written with O_DIRECT like the shards: read the same way, not through the page cache.
	const sha256 = (await sha256Files([path], { signal, direct: true })).get(path);
	return sha256 === recorded.sha256 ? undefined : "sha256 differs from the recorded one";
}

/** The record's entry for a GGUF file just completed. */
export function recordGguf(name: string, layout: GgufLayout, sha256: string): RecordedGguf {
	return { name, bytes: layout.fileBytes, header: sha256Hex(layout.header), sha256 };
}
