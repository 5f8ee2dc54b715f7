/** `architecture:` as mergekit reads it: a case-insensitive prefix of an output architecture's display name. */
import type { ArchitectureName } from "../architectures/output-architecture.js";
import { ARCHITECTURES } from "../architectures/registry.js";

/**
 * Every architecture `text` selects, in the registry's order (mergekit's for the built-in ones: the order
 * decides ties between prefixes); empty when none. Besides mergekit's prefixes we accept our own schema
 * names (`qwen2_moe`), which no mergekit name starts with.
 */
export function matchArchitectures(text: string): ArchitectureName[] {
	const wanted = text.toLowerCase();
	const byName = ARCHITECTURES.filter((a) => a.name === wanted);
	if (byName.length > 0) return byName.map((a) => a.name);
	return ARCHITECTURES.filter((a) => a.displayName.toLowerCase().startsWith(wanted)).map((a) => a.name);
}
