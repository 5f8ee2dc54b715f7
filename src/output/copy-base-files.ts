import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { GENERATION_CONFIG_FILE, TOKENIZER_FILES } from "../checkpoint/side-files.js";

export interface CopyBaseFilesOptions {
	tokenizer: boolean;
}

/** Copies generation_config.json and (unless disabled) the tokenizer files of the base model; returns the names copied. */
export async function copyBaseFiles(baseDir: string, outDir: string, options: CopyBaseFilesOptions): Promise<string[]> {
	const copied: string[] = [];
	for (const name of (await readdir(baseDir)).sort()) {
		if (name === GENERATION_CONFIG_FILE || (options.tokenizer && TOKENIZER_FILES.has(name))) {
			await copyFile(join(baseDir, name), join(outDir, name));
			copied.push(name);
		}
	}
	return copied;
}
