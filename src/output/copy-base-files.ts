import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Tokenizer and chat-template files, copied byte for byte (mergekit-moe re-saves them, which alters them). */
export const TOKENIZER_FILES: ReadonlySet<string> = new Set([
	"tokenizer.json",
	"tokenizer_config.json",
	"tokenizer.model",
	"special_tokens_map.json",
	"added_tokens.json",
	"vocab.json",
	"merges.txt",
	"chat_template.jinja",
	"chat_template.json",
]);

export interface CopyBaseFilesOptions {
	tokenizer: boolean;
}

/** Copies generation_config.json and (unless disabled) the tokenizer files of the base model; returns the names copied. */
export async function copyBaseFiles(baseDir: string, outDir: string, options: CopyBaseFilesOptions): Promise<string[]> {
	const copied: string[] = [];
	for (const name of (await readdir(baseDir)).sort()) {
		if (name === "generation_config.json" || (options.tokenizer && TOKENIZER_FILES.has(name))) {
			await copyFile(join(baseDir, name), join(outDir, name));
			copied.push(name);
		}
	}
	return copied;
}
