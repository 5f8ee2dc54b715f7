/** Reads the base model's tokenizer files; every failure is a ModelError naming the file. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelError } from "../errors.js";

export { CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from "../checkpoint/side-files.js";

/** Parses `dir/name` as a JSON object. */
export async function readJsonObject(dir: string, name: string): Promise<Record<string, unknown>> {
	const file = join(dir, name);
	const text = await readText(file, true);
	let value: unknown;
	try {
		value = JSON.parse(text!);
	} catch (error) {
		throw new ModelError(`${file}: not valid JSON: ${(error as Error).message}`, { file, cause: error, hint: "the file is damaged; fetch it again" });
	}
	if (typeof value !== "object" || value === null || Array.isArray(value)) {
		throw new ModelError(`${file}: expected a JSON object`, { file, hint: "the file is damaged; fetch it again" });
	}
	return value as Record<string, unknown>;
}

/** The text of `file`; undefined when absent and not `required`. */
export async function readText(file: string, required: boolean): Promise<string | undefined> {
	try {
		return await readFile(file, "utf8");
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === "ENOENT" && !required) return undefined;
		throw new ModelError(
			code === "ENOENT" ? `${file}: missing; the base model's tokenizer is needed to tokenize the gate prompts` : `${file}: cannot read: ${code ?? (error as Error).message}`,
			{ file, cause: error, hint: code === "ENOENT" ? "download the tokenizer files of the base model too (tokenizer.json, tokenizer_config.json)" : undefined },
		);
	}
}
