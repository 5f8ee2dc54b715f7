/** What the vocabulary readers share: reading a tokenizer's JSON files, and the converter's rule for tokens that look special. */
import { readFile } from "node:fs/promises";
import { ModelError } from "../../errors.js";
import { type GgufEntry, arr, str } from "../metadata.js";

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

/** A SentencePiece-style vocabulary as llama.cpp's `llama` tokenizer reads it: tokens in id order with their scores and types. */
export function llamaVocabulary(tokens: string[], scores: number[], types: number[]): GgufEntry[] {
	return [
		str("tokenizer.ggml.model", "llama"),
		str("tokenizer.ggml.pre", "default"),
		arr("tokenizer.ggml.tokens", "string", tokens),
		arr("tokenizer.ggml.scores", "f32", scores),
		arr("tokenizer.ggml.token_type", "i32", types),
	];
}
