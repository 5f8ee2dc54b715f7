/** Special-token texts of tokenizer_config.json, which stores each as a string, an AddedToken object or null. */

export interface SpecialTokenTexts {
	bos_token?: string;
	eos_token?: string;
	unk_token?: string;
	pad_token?: string;
}

const NAMES = ["bos_token", "eos_token", "unk_token", "pad_token"] as const;

export function specialTokenTexts(config: Record<string, unknown>): SpecialTokenTexts {
	const out: SpecialTokenTexts = {};
	for (const name of NAMES) {
		const text = tokenText(config[name]);
		if (text !== undefined) out[name] = text;
	}
	return out;
}

/** `"<s>"` or `{"content": "<s>", ...}` → `"<s>"`; null, "" and anything else → undefined. */
export function tokenText(value: unknown): string | undefined {
	if (typeof value === "string") return value === "" ? undefined : value;
	if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
		const content = (value as { content: string }).content;
		return content === "" ? undefined : content;
	}
	return undefined;
}
