/**
 * The vocabulary of a model folder with a SentencePiece `tokenizer.model` and no tokenizer.json, as
 * llama.cpp's converter writes it (convert_hf_to_gguf.py, _create_vocab_sentencepiece): model "llama",
 * pre "default", one token per embedding row: the pieces with their scores and types (unknown,
 * control, unused, byte; normal and user-defined pieces are NORMAL), then added_tokens.json's tokens
 * (USER_DEFINED, score -1000), then tokenizer_config.json's added_tokens_decoder (CONTROL when special
 * or looking special, else USER_DEFINED with U+2581 as spaces; score -1000); rows no token uses are
 * [PAD<id>] (UNUSED, score -10000).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelError } from "../../errors.js";
import type { GgufEntry } from "../metadata.js";
import { PIECE_TYPE, parseSentencePieceModel } from "./sentencepiece-model.js";
import { TOKEN_TYPE } from "./token-types.js";
import { llamaVocabulary, looksSpecial, readJson } from "./tokenizer-files.js";

type Json = Record<string, unknown>;

/** The converter's type for a piece: sentencepiece's IsUnknown, IsControl, IsUnused, IsByte, else NORMAL. */
function tokenType(pieceType: number): number {
	if (pieceType === PIECE_TYPE.UNKNOWN) return TOKEN_TYPE.UNKNOWN;
	if (pieceType === PIECE_TYPE.CONTROL) return TOKEN_TYPE.CONTROL;
	if (pieceType === PIECE_TYPE.UNUSED) return TOKEN_TYPE.UNUSED;
	if (pieceType === PIECE_TYPE.BYTE) return TOKEN_TYPE.BYTE;
	return TOKEN_TYPE.NORMAL;
}

export async function sentencePieceModelVocabulary(dir: string, vocabSize: number, tokenizerConfig: Json): Promise<GgufEntry[]> {
	const file = join(dir, "tokenizer.model");
	const { pieces } = parseSentencePieceModel(file, await readFile(file));
	if (pieces.length > vocabSize) {
		throw new ModelError(`${file}: ${pieces.length} pieces, more than the model's ${vocabSize} embedding rows`, { file });
	}
	const tokens = Array.from({ length: vocabSize }, (_, id) => `[PAD${id}]`);
	const scores: number[] = new Array(vocabSize).fill(-10000);
	const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
	pieces.forEach((p, id) => {
		tokens[id] = p.piece;
		scores[id] = p.score;
		types[id] = tokenType(p.type);
	});
	// The converter skips (with a warning) added tokens beyond the embedding.
	const addedFile = join(dir, "added_tokens.json");
	for (const [token, id] of Object.entries((await readJson(addedFile, false)) ?? {})) {
		if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw new ModelError(`${addedFile}: ${JSON.stringify(token)} has id ${JSON.stringify(id)}`, { file: addedFile });
		if (id >= vocabSize) continue;
		tokens[id] = token;
		scores[id] = -1000;
		types[id] = TOKEN_TYPE.USER_DEFINED;
	}
	const decoder = (tokenizerConfig.added_tokens_decoder ?? {}) as Record<string, Json>;
	for (const [key, entry] of Object.entries(decoder)) {
		const id = Number(key);
		const content = entry?.content;
		if (!Number.isInteger(id) || id < 0 || id >= vocabSize || typeof content !== "string") {
			throw new ModelError(`${join(dir, "tokenizer_config.json")}: added token ${key} (${JSON.stringify(content)}) is not one of the model's ${vocabSize} embedding rows`, { file: join(dir, "tokenizer_config.json") });
		}
		const control = entry.special === true || looksSpecial(content);
		tokens[id] = control ? content : content.replaceAll("\u2581", " ");
		scores[id] = -1000;
		types[id] = control ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
	}
	return llamaVocabulary(tokens, scores, types);
}
