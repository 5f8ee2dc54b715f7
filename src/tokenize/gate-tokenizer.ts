/**
 * Tokenization of gate prompts, following mergekit-moe's rule: each prompt is tokenized as
 * `bos_token + prompt` with add_special_tokens=false, where bos_token is tokenizer_config.json's (no
 * bos, as in Qwen3 → just the prompt), and the bos text is matched as the special token.
 *
 * We reproduce tokenizer.json (the `tokenizers` library, = transformers 4.57 = sentencepiece). For a
 * space right after the bos (e.g. Mistral's `"<s>" + " "`) transformers 5.x gives other ids
 * (`[1, 28705]` instead of `[1, 259]`); we follow tokenizer.json there (tests/fixtures/tokenization.json,
 * prompts 11, 16, 19).
 *
 * Chat prompts (`{messages}`) are rendered with the chat template and tokenized as they are, without
 * prepending bos again: templates write their own bos (`{{ bos_token }}`), and a second one would
 * change the states the gates are computed from. A template without bos gives ids without bos.
 */
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { ModelError } from "../errors.js";
import type { Prompt } from "../recipe/types.js";
import { type ChatTemplate, loadChatTemplate, renderChat } from "./chat-template.js";
import { type SpecialTokenTexts, specialTokenTexts } from "./special-tokens.js";
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, readJsonObject } from "./tokenizer-files.js";

export class GateTokenizer {
	readonly dir: string;
	/** bos text, or undefined when the tokenizer has none. */
	readonly bosToken?: string;
	private readonly tokenizer: Tokenizer;
	private readonly specials: SpecialTokenTexts;
	private readonly chat: ChatTemplate;
	/** How bos becomes an id: matched inside the text (an added token) or prepended as a vocabulary id. */
	private readonly bosId?: number;
	private readonly bosIsAdded: boolean;

	private constructor(dir: string, tokenizer: Tokenizer, specials: SpecialTokenTexts, chat: ChatTemplate) {
		this.dir = dir;
		this.tokenizer = tokenizer;
		this.specials = specials;
		this.chat = chat;
		this.bosToken = specials.bos_token;
		this.bosIsAdded = false;
		if (this.bosToken === undefined) return;
		const added = [...tokenizer.get_added_tokens_decoder().values()].find((t) => t.content === this.bosToken);
		this.bosIsAdded = added !== undefined;
		this.bosId = added?.id ?? tokenizer.token_to_id(this.bosToken);
		if (this.bosId === undefined) {
			const file = join(dir, TOKENIZER_CONFIG_FILE);
			throw new ModelError(`${file}: bos_token ${JSON.stringify(this.bosToken)} is not a token of ${TOKENIZER_FILE}`, { file });
		}
	}

	/** Loads `tokenizer.json` and `tokenizer_config.json` (and the chat template) of a model folder. */
	static async load(dir: string): Promise<GateTokenizer> {
		// One after the other, so that with both missing the error always names tokenizer.json.
		const json = await readJsonObject(dir, TOKENIZER_FILE);
		const config = await readJsonObject(dir, TOKENIZER_CONFIG_FILE);
		let tokenizer: Tokenizer;
		try {
			tokenizer = new Tokenizer(json, config);
		} catch (error) {
			const file = join(dir, TOKENIZER_FILE);
			throw new ModelError(`${file}: unsupported or invalid tokenizer: ${(error as Error).message}`, { file, cause: error });
		}
		return new GateTokenizer(dir, tokenizer, specialTokenTexts(config), await loadChatTemplate(dir, config));
	}

	/** The ids the gates are computed from (see the module comment). */
	encode(prompt: Prompt): number[] {
		if (typeof prompt !== "string") return this.encodeText(this.renderChat(prompt.messages));
		if (this.bosToken === undefined) return this.encodeText(prompt);
		// A bos missing from the added tokens would be split into characters; transformers would match it.
		return this.bosIsAdded ? this.encodeText(this.bosToken + prompt) : [this.bosId!, ...this.encodeText(prompt)];
	}

	/** The chat template applied to `messages` (no generation prompt). */
	renderChat(messages: readonly { role: string; content: string }[]): string {
		return renderChat(this.chat, messages, this.specials, join(this.dir, TOKENIZER_CONFIG_FILE));
	}

	/** The text of `ids`, special tokens included (the report's token view and next-token predictions). */
	decode(ids: readonly number[]): string {
		return this.tokenizer.decode([...ids], { skip_special_tokens: false });
	}

	private encodeText(text: string): number[] {
		return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
	}
}
