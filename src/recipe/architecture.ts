/** `architecture:` as mergekit reads it: a case-insensitive prefix of an output architecture's name. */
import type { ArchitectureName } from "./types.js";

/** mergekit-moe's candidates, in its order (the order decides ties between prefixes). */
export const ARCHITECTURE_NAMES: readonly { id: ArchitectureName; name: string }[] = [
	{ id: "mixtral", name: "Mixtral" },
	{ id: "deepseek_moe", name: "DeepSeek MoE" },
	{ id: "qwen2_moe", name: "Qwen MoE" },
	{ id: "qwen3_moe", name: "Qwen3 MoE" },
];

/**
 * Every architecture `text` selects, in mergekit's order; empty when none. Besides mergekit's
 * prefixes we accept our own ids (`qwen2_moe`), which no mergekit name starts with.
 */
export function matchArchitectures(text: string): ArchitectureName[] {
	const wanted = text.toLowerCase();
	const byId = ARCHITECTURE_NAMES.filter((a) => a.id === wanted);
	if (byId.length > 0) return byId.map((a) => a.id);
	return ARCHITECTURE_NAMES.filter((a) => a.name.toLowerCase().startsWith(wanted)).map((a) => a.id);
}
