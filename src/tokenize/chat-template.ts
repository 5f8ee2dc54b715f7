/**
 * Chat prompts (`{messages: [...]}`) are rendered with the base model's chat template, the way
 * transformers' apply_chat_template(tokenize=False, add_generation_prompt=False) does. @huggingface/jinja
 * applies trim_blocks and lstrip_blocks like transformers.
 */
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { ModelError } from "../errors.js";
import type { SpecialTokenTexts } from "./special-tokens.js";
import { CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE, readText } from "./tokenizer-files.js";

export interface ChatMessage {
	role: string;
	content: string;
}

/** A parsed template, or the reason there is none (reported only when a chat prompt needs it). */
export type ChatTemplate = { template: Template } | { missing: string };

/**
 * tokenizer_config.json's `chat_template`: a string, or a list of `{name, template}` of which we use
 * "default" (as transformers does without an explicit name); else `chat_template.jinja` beside it.
 */
export async function loadChatTemplate(dir: string, config: Record<string, unknown>): Promise<ChatTemplate> {
	const configFile = join(dir, TOKENIZER_CONFIG_FILE);
	let source: string | undefined;
	let origin = configFile;
	const raw = config.chat_template;
	if (typeof raw === "string") {
		source = raw;
	} else if (Array.isArray(raw)) {
		const named = raw.find((t) => typeof t === "object" && t !== null && (t as { name?: unknown }).name === "default") as { template?: unknown } | undefined;
		if (!named || typeof named.template !== "string") {
			const names = raw.map((t) => JSON.stringify((t as { name?: unknown })?.name)).join(", ");
			return { missing: `${configFile}: chat_template lists templates ${names} but none named "default"` };
		}
		source = named.template;
	} else if (raw === undefined || raw === null) {
		origin = join(dir, CHAT_TEMPLATE_FILE);
		source = await readText(origin, false);
		if (source === undefined) return { missing: `${configFile}: the base model has no chat_template (nor ${CHAT_TEMPLATE_FILE})` };
	} else {
		return { missing: `${configFile}: chat_template is neither a string nor a list of named templates` };
	}
	try {
		return { template: new Template(source) };
	} catch (error) {
		return { missing: `${origin}: the chat template does not parse: ${(error as Error).message}` };
	}
}

export function renderChat(chat: ChatTemplate, messages: readonly ChatMessage[], specials: SpecialTokenTexts, file: string): string {
	if ("missing" in chat) {
		throw new ModelError(`${chat.missing}, so the chat prompts of the recipe cannot be rendered`, {
			file,
			hint: "write the prompts as plain strings, or use a base model with a chat template",
		});
	}
	try {
		return chat.template.render({
			...specials,
			messages: messages.map((m) => ({ role: m.role, content: m.content })),
			add_generation_prompt: false,
		});
	} catch (error) {
		throw new ModelError(`${file}: the chat template failed on a recipe prompt: ${(error as Error).message}`, { file, cause: error });
	}
}
