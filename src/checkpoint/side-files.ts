/**
 * The files of a Hugging Face model folder beside its weights, named once: what a merge downloads
 * and reads from an input (hub/, lock/), copies into its output (output/), reads to tokenize
 * (tokenize/) and checks in a finished checkpoint (verify/).
 */

export const CONFIG_FILE = "config.json";
export const GENERATION_CONFIG_FILE = "generation_config.json";
export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
/** transformers ≥ 4.43 may save the chat template beside tokenizer_config.json instead of inside it. */
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

/** Tokenizer and chat-template files, copied byte for byte (mergekit-moe re-saves them, which alters them). */
export const TOKENIZER_FILES: ReadonlySet<string> = new Set([
	TOKENIZER_FILE,
	TOKENIZER_CONFIG_FILE,
	"tokenizer.model",
	"special_tokens_map.json",
	"added_tokens.json",
	"vocab.json",
	"merges.txt",
	CHAT_TEMPLATE_FILE,
	"chat_template.json",
]);

/** Any one of these sets of tokenizer files lets transformers' AutoTokenizer load a tokenizer. */
export const TOKENIZER_SETS: readonly (readonly string[])[] = [[TOKENIZER_FILE], ["tokenizer.model"], ["vocab.json", "merges.txt"]];

/** Files beside the weights that a merge reads or copies: the config, the generation config and the tokenizer files. Nothing else is downloaded. */
export const MERGE_SIDE_FILES: ReadonlySet<string> = new Set([CONFIG_FILE, GENERATION_CONFIG_FILE, ...TOKENIZER_FILES]);

/** The side files a checkpoint carries that are JSON (a half-copied one breaks loading): the generation config and the tokenizer's. */
export const JSON_SIDE_FILES: readonly string[] = [...TOKENIZER_FILES, GENERATION_CONFIG_FILE].filter((name) => name.endsWith(".json"));
