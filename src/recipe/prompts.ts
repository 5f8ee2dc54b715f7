/** Prompt lists from the validated data: null means none; chat prompts are copied, not shared. */
import type { Prompt } from "./types.js";

export type RawPrompt = string | { messages: { role: string; content: string }[] };

export function toPrompts(raw: RawPrompt[] | null | undefined): Prompt[] {
	return (raw ?? []).map((p) => (typeof p === "string" ? p : { messages: p.messages.map((m) => ({ role: m.role, content: m.content })) }));
}

/** A stable text for comparing two prompt lists (mergekit compares tuples of strings). */
export function promptListKey(prompts: readonly Prompt[]): string {
	return JSON.stringify(prompts);
}
