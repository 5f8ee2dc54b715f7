/**
 * The tokenizer.* metadata of a GGUF file, from a model folder's tokenizer.json (and
 * tokenizer_config.json, config.json), as llama.cpp's converter writes it:
 *
 * - a SentencePiece-style BPE vocabulary (byte_fallback: Llama 2, Mistral): tokenizer.ggml.model
 *   "llama", pre "default", tokens in id order, scores, token types (BYTE for <0xXX>, CONTROL for
 *   special tokens, USER_DEFINED for other added tokens);
 * - a byte-level BPE vocabulary (Llama 3, Qwen, DeepSeek): model "gpt2", the pre-tokenizer name
 *   llama.cpp knows it by (see pre-tokenizer-names.ts), tokens, token types and merges;
 *
 * - without tokenizer.json, a SentencePiece tokenizer.model (sentencepiece-vocabulary.ts);
 *
 * then the special tokens, add_bos/add_eos and the chat template (special-vocab.ts). The token list has
 * exactly `vocabSize` entries (the embedding's rows); ids the tokenizer does not use are [PAD<id>].
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { ModelError } from "../../errors.js";
import { type GgufEntry, arr, str } from "../metadata.js";
import { CHECK_TEXT, KNOWN_PRE_TOKENIZERS, idsAsPythonList } from "./pre-tokenizer-names.js";
import { sentencePieceModelVocabulary } from "./sentencepiece-vocabulary.js";
import { specialVocabEntries } from "./special-vocab.js";
import { llamaVocabulary, looksSpecial, readJson } from "./tokenizer-files.js";
import { TOKEN_TYPE } from "./token-types.js";

type Json = Record<string, unknown>;

interface AddedToken {
	id: number;
	content: string;
	special?: boolean;
}

/** Everything the tokenizer part of the GGUF needs, read (and checked) before any file is written. */
export async function tokenizerMetadata(dir: string, vocabSize: number, modelConfig: Json): Promise<GgufEntry[]> {
	const file = join(dir, "tokenizer.json");
	const json = await readJson(file, false);
	const config = (await readJson(join(dir, "tokenizer_config.json"), false)) ?? {};
	if (!json) {
		// Only a SentencePiece model: read as the converter reads it; the special tokens then come from the config files.
		if (await stat(join(dir, "tokenizer.model")).then((s) => s.isFile(), () => false)) {
			const vocabulary = await sentencePieceModelVocabulary(dir, vocabSize, config);
			return [...vocabulary, ...(await specialVocabEntries(dir, {}, config, modelConfig, vocabSize))];
		}
		throw new ModelError(`${dir}: no tokenizer.json and no tokenizer.model; a GGUF file needs the vocabulary`, {
			file,
			hint: "add the model's tokenizer.json or tokenizer.model (transformers writes them with save_pretrained)",
		});
	}
	const model = (json.model ?? {}) as Json;
	if (model.type !== "BPE" || typeof model.vocab !== "object" || model.vocab === null) {
		throw new ModelError(`${file}: a ${String(model.type)} tokenizer; llama.cpp's GGUF vocabularies written here are BPE (SentencePiece-style or byte-level)`, { file });
	}
	const vocab = model.vocab as Record<string, number>;
	const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []) as AddedToken[];
	let maxId = -1;
	for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
	for (const t of added) maxId = Math.max(maxId, t.id);
	if (maxId >= vocabSize) {
		throw new ModelError(`${file}: token id ${maxId} is beyond the model's ${vocabSize} embedding rows`, { file });
	}
	const sentencePiece = model.byte_fallback === true;
	const vocabulary = sentencePiece ? sentencePieceVocabulary(vocab, added, config, model, vocabSize) : await byteLevelVocabulary(file, json, config, vocab, added, model, vocabSize);
	return [...vocabulary, ...(await specialVocabEntries(dir, json, config, modelConfig, vocabSize))];
}

/** [PAD<id>] for ids no token uses, as the converter pads. */
const padToken = (id: number) => `[PAD${id}]`;

function sentencePieceVocabulary(vocab: Record<string, number>, added: AddedToken[], config: Json, model: Json, vocabSize: number): GgufEntry[] {
	const tokens: string[] = new Array(vocabSize);
	const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
	const scores: number[] = new Array(vocabSize).fill(-1000);
	for (let id = 0; id < vocabSize; id++) tokens[id] = padToken(id);
	for (const [token, id] of Object.entries(vocab)) {
		tokens[id] = token;
		types[id] = /^<0x[0-9A-Fa-f]{2}>$/.test(token) ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL;
	}
	const specialTexts = new Set<string>();
	for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
		const v = config[key];
		const text = typeof v === "string" ? v : (v as Json | null | undefined)?.content;
		if (typeof text === "string") specialTexts.add(text);
	}
	for (const t of Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : []) if (typeof t === "string") specialTexts.add(t);
	for (const t of added) {
		tokens[t.id] = t.content;
		types[t.id] = t.special || specialTexts.has(t.content) ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
	}
	// Scores order llama.cpp's SentencePiece merges: a token made by merge r scores -r, so it merges in
	// the BPE rank order tokenizer.json encodes with. (The converter, given only tokenizer.json, writes
	// -1000 for every token, which makes llama.cpp merge left to right and tokenize differently.)
	const merges = (Array.isArray(model.merges) ? model.merges : []) as (string | [string, string])[];
	const scored = new Set<number>();
	merges.forEach((merge, rank) => {
		const pair = typeof merge === "string" ? merge.split(" ") : merge;
		const id = vocab[pair.join("")];
		if (id === undefined || scored.has(id)) return;
		scored.add(id);
		scores[id] = -rank;
	});
	return llamaVocabulary(tokens, scores, types);
}

async function byteLevelVocabulary(file: string, json: Json, config: Json, vocab: Record<string, number>, added: AddedToken[], model: Json, vocabSize: number): Promise<GgufEntry[]> {
	const pre = preTokenizerName(file, json, config);
	const tokens: string[] = new Array(vocabSize);
	const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
	for (let id = 0; id < vocabSize; id++) tokens[id] = padToken(id);
	for (const [token, id] of Object.entries(vocab)) {
		tokens[id] = token;
		types[id] = TOKEN_TYPE.NORMAL;
	}
	for (const t of added) {
		const control = t.special === true || looksSpecial(t.content);
		tokens[t.id] = control ? t.content : t.content.replaceAll("\u2581", " ");
		types[t.id] = control ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
	}
	const merges = ((Array.isArray(model.merges) ? model.merges : []) as (string | [string, string])[]).map((merge) =>
		// transformers >= 4.45 writes pairs; gguf-py joins them with a space, a space inside a part as U+0120.
		typeof merge === "string" ? merge : merge.map((part) => part.replaceAll(" ", "\u0120")).join(" "),
	);
	if (merges.length === 0) throw new ModelError(`${file}: a byte-level BPE tokenizer without merges`, { file });
	return [
		str("tokenizer.ggml.model", "gpt2"),
		str("tokenizer.ggml.pre", pre),
		arr("tokenizer.ggml.tokens", "string", tokens),
		arr("tokenizer.ggml.token_type", "i32", types),
		arr("tokenizer.ggml.merges", "string", merges),
	];
}

/** The pre-tokenizer name llama.cpp's converter would find for this tokenizer, or a ModelError. */
export function preTokenizerName(file: string, json: Json, config: Json): string {
	let tokenizer: Tokenizer;
	try {
		tokenizer = new Tokenizer(json, config);
	} catch (error) {
		throw new ModelError(`${file}: unsupported or invalid tokenizer: ${(error as Error).message}`, { file, cause: error });
	}
	const ids = tokenizer.encode(CHECK_TEXT).ids;
	const hash = createHash("sha256").update(idsAsPythonList(ids)).digest("hex");
	const name = KNOWN_PRE_TOKENIZERS.get(hash);
	if (name === undefined) {
		throw new ModelError(`${file}: llama.cpp does not know this vocabulary's pre-tokenizer (check hash ${hash}), so it cannot tokenize like the model`, {
			file,
			hint: "llama.cpp's convert_hf_to_gguf.py lists the vocabularies it knows in get_vocab_base_pre",
		});
	}
	return name;
}
