/** Paths of the tokenizer fixtures and temporary tokenizer folders with edited configs. */
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

/** Compiled tests live in .test-build/tests/tokenize/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const FIXTURES = join(REPO_ROOT, "tests/fixtures");
export const MISTRAL_DIR = join(FIXTURES, "tokenizers/mistral");
export const QWEN3_DIR = join(FIXTURES, "tokenizers/qwen3");

export async function readJson<T = any>(file: string): Promise<T> {
	return JSON.parse(await readFile(file, "utf8")) as T;
}

/** A copy of a tokenizer folder whose tokenizer_config.json is edited by `edit` (removed if it returns null). */
export async function editedTokenizer(from: string, edit: (config: Record<string, unknown>) => Record<string, unknown> | null): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), "moe-merge-tok-"));
	after(() => rm(dir, { recursive: true, force: true }));
	await copyFile(join(from, "tokenizer.json"), join(dir, "tokenizer.json"));
	const config = edit(await readJson(join(from, "tokenizer_config.json")));
	if (config) await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
	return dir;
}
