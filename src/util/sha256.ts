import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** sha256 of text (as UTF-8) or bytes, in hex, as lock and resume records spell it. */
export function sha256Hex(data: string | Uint8Array): string {
	return createHash("sha256").update(data).digest("hex");
}

/** Feeds the first `end` bytes of a file (all of it by default) to `update`, 1 MB at a time. */
export async function feedFile(path: string, update: (chunk: Uint8Array) => void, end?: number): Promise<void> {
	if (end === 0) return;
	const stream = createReadStream(path, { highWaterMark: 1 << 20, ...(end !== undefined && { end: end - 1 }) });
	for await (const chunk of stream) update(chunk as Buffer);
}

/** sha256 of a whole file in hex, streamed with a bounded buffer. */
export async function sha256File(path: string): Promise<string> {
	const hash = createHash("sha256");
	await feedFile(path, (chunk) => hash.update(chunk));
	return hash.digest("hex");
}
