/** Test helpers for the GGUF writer. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Compiled tests live in .test-build/tests/gguf/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const GGUF_FIXTURES = join(REPO_ROOT, "tests/fixtures/gguf");

export async function readF32(file: string): Promise<Float32Array> {
	const bytes = await readFile(file);
	return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}
