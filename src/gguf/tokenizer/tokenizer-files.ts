/** What the vocabulary readers share: reading a tokenizer's JSON files, and the converter's rule for tokens that look special. */
import { readFile } from "node:fs/promises";
import { ModelError } from "../../errors.js";

type Json = Record<string, unknown>;

/** Tokens the converter marks CONTROL even when not flagged special (does_token_look_special). */
export function looksSpecial(token: string): boolean {
	return (
		token === "<pad>" || token === "<mask>" || token === "<2mass>" || token === "[@BOS@]" ||
		(token.startsWith("<|") && token.endsWith("|>")) ||
		(token.startsWith("<｜") && token.endsWith("｜>")) ||
		(token.startsWith("<unused") && token.endsWith(">"))
	);
}

export async function readJson(file: string, required: boolean): Promise<Json | undefined> {
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (error) {
		if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
		throw new ModelError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { file, cause: error });
	}
	try {
		return JSON.parse(text) as Json;
	} catch (error) {
		throw new ModelError(`${file}: not valid JSON: ${(error as Error).message}`, { file, cause: error });
	}
}
