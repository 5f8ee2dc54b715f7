/**
 * Special token ids, add_bos/add_eos and the chat template, read as gguf-py's SpecialVocab reads them
 * (the converter's rule): ids of tokenizer_config.json's `<type>_token` texts among tokenizer.json's
 * added tokens, else config.json's `<type>_token_id`; add_bos/add_eos from tokenizer.json's
 * TemplateProcessing post-processor, overridden by tokenizer_config.json's booleans; the chat template
 * from tokenizer_config.json, else chat_template.jinja / chat_template.json.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type GgufEntry, bool, str, u32 } from "../metadata.js";

const SPECIAL_TYPES = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] as const;

/** The metadata key of each special token's id (gguf.Keys.Tokenizer, spelled as llama.cpp spells them; gguf-py has none for cls). */
const ID_KEYS: Readonly<Partial<Record<(typeof SPECIAL_TYPES)[number], string>>> = {
	bos: "tokenizer.ggml.bos_token_id",
	eos: "tokenizer.ggml.eos_token_id",
	unk: "tokenizer.ggml.unknown_token_id",
	sep: "tokenizer.ggml.seperator_token_id",
	pad: "tokenizer.ggml.padding_token_id",
	mask: "tokenizer.ggml.mask_token_id",
};

interface AddedToken {
	id: number;
	content: string;
}

type Json = Record<string, unknown>;

function tokenText(entry: unknown): string | undefined {
	if (typeof entry === "string") return entry;
	if (entry && typeof entry === "object" && typeof (entry as Json).content === "string") return (entry as Json).content as string;
	return undefined;
}

/** Which special tokens the post-processor puts first and last (gguf-py's crude TemplateProcessing reading). */
function templateSpecials(tokenizerJson: Json): { first?: string; last?: string } {
	const post = tokenizerJson.post_processor as Json | null | undefined;
	if (!post) return {};
	const processors = (Array.isArray(post.processors) ? post.processors : [post]) as Json[];
	for (const processor of processors) {
		if (processor.type !== "TemplateProcessing") continue;
		const single = (processor.single ?? []) as Json[];
		if (single.length < 2) return {};
		const id = (item: Json | undefined) => ((item?.SpecialToken as Json | undefined)?.id as string | undefined) || undefined;
		return { first: id(single[0]), last: id(single[single.length - 1]) };
	}
	return {};
}

export async function specialVocabEntries(dir: string, tokenizerJson: Json, tokenizerConfig: Json, modelConfig: Json, vocabSize: number): Promise<GgufEntry[]> {
	const added = (Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []) as AddedToken[];
	const ids = new Map<(typeof SPECIAL_TYPES)[number], number>();
	const set = (type: (typeof SPECIAL_TYPES)[number], id: unknown) => {
		if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= vocabSize || ids.has(type)) return;
		ids.set(type, id);
	};
	const adds = new Map<string, boolean>();
	const { first, last } = templateSpecials(tokenizerJson);
	const bosText = tokenText(tokenizerConfig.bos_token) ?? tokenText(tokenizerConfig.cls_token);
	const eosText = tokenText(tokenizerConfig.eos_token) ?? tokenText(tokenizerConfig.sep_token);
	if (first !== undefined) adds.set("bos", first === bosText);
	if (last !== undefined) adds.set("eos", last === eosText);
	for (const type of SPECIAL_TYPES) {
		const add = tokenizerConfig[`add_${type}_token`];
		if (typeof add === "boolean") adds.set(type, add);
		const text = type === "bos" ? bosText : type === "eos" ? eosText : tokenText(tokenizerConfig[`${type}_token`]);
		if (text !== undefined) set(type, added.find((t) => t.content === text)?.id);
	}
	for (const type of SPECIAL_TYPES) set(type, modelConfig[`${type}_token_id`]);

	const entries: GgufEntry[] = [];
	for (const [type, id] of ids) if (ID_KEYS[type]) entries.push(u32(ID_KEYS[type], id));
	for (const [type, add] of adds) if (type === "bos" || type === "eos" || type === "sep") entries.push(bool(`tokenizer.ggml.add_${type}_token`, add));
	const template = await chatTemplate(dir, tokenizerConfig);
	if (template !== undefined) entries.push(str("tokenizer.chat_template", template));
	return entries;
}

async function chatTemplate(dir: string, tokenizerConfig: Json): Promise<string | undefined> {
	const pick = (value: unknown): string | undefined => {
		if (typeof value === "string") return value;
		// A list of named templates: the default one (the others have no key in llama.cpp's loader we need).
		if (Array.isArray(value)) return (value as Json[]).find((t) => t.name === "default")?.template as string | undefined;
		return undefined;
	};
	const inConfig = pick(tokenizerConfig.chat_template);
	if (inConfig !== undefined) return inConfig;
	const jinja = await readFile(join(dir, "chat_template.jinja"), "utf8").catch(() => undefined);
	if (jinja !== undefined) return jinja;
	const json = await readFile(join(dir, "chat_template.json"), "utf8").catch(() => undefined);
	if (json === undefined) return undefined;
	try {
		return pick((JSON.parse(json) as Json).chat_template);
	} catch {
		return undefined;
	}
}
