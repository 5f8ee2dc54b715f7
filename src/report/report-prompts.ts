/**
 * The prompts a report runs: each routed expert's positive prompts from the recipe (so each knows the
 * expert it was meant for), then any extra prompts from a text file (one per line). Tokenized like the
 * gates were built: with the model's tokenizer, bos first (src/tokenize/).
 */
import { readFile } from "node:fs/promises";
import { MoeMergeError } from "../errors.js";
import type { Prompt, Recipe } from "../recipe/index.js";
import type { GateTokenizer } from "../tokenize/index.js";

export interface ReportPrompt {
	/** The prompt as text (chat prompts rendered with the chat template). */
	text: string;
	/** The routed expert whose positive prompt this is; undefined for extra prompts. */
	expert?: number;
	tokenIds: number[];
}

/** Every positive prompt of every routed expert, in recipe order, with its expert. */
export function recipePrompts(recipe: Recipe): { prompt: Prompt; expert: number }[] {
	return recipe.experts.flatMap((e, expert) => e.positivePrompts.map((prompt) => ({ prompt, expert })));
}

/** Non-empty lines of a text file, each one prompt. */
export async function readPromptsFile(file: string): Promise<string[]> {
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (cause) {
		throw new MoeMergeError(`${file}: cannot read the prompts file (${(cause as NodeJS.ErrnoException).code ?? cause})`, { file, cause });
	}
	const prompts = text.split(/\r?\n/).filter((line) => line.trim() !== "");
	if (prompts.length === 0) throw new MoeMergeError(`${file}: the prompts file has no prompts (one prompt per line)`, { file });
	return prompts;
}

export function tokenizePrompts(prompts: readonly { prompt: Prompt; expert?: number }[], tokenizer: GateTokenizer): ReportPrompt[] {
	return prompts.map(({ prompt, expert }) => ({
		text: typeof prompt === "string" ? prompt : tokenizer.renderChat(prompt.messages),
		expert,
		tokenIds: tokenizer.encode(prompt),
	}));
}
