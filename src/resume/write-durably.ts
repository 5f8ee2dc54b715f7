import { open, rename } from "node:fs/promises";

/**
 * Writes `data` to `file` through a temporary file that is fsynced and renamed over it: after a crash
 * or power loss the file holds the old or the new content, never a torn one.
 */
export async function writeFileDurably(file: string, data: string | Uint8Array): Promise<void> {
	const temp = `${file}.tmp`;
	const handle = await open(temp, "w");
	try {
		await handle.writeFile(data);
		await handle.sync();
	} finally {
		await handle.close();
	}
	await rename(temp, file);
}
