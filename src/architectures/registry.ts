/**
 * The one list of output architectures. Everything that writes, checks or runs an MoE checkpoint looks
 * its description (output-architecture.ts) up here: recipes by schema name (`architecture:`, and the
 * display names mergekit matches by prefix), verify, the routing report and every later reader by
 * config.json's model_type.
 *
 * A new architecture is one description file plus one entry in BUILTIN_ARCHITECTURES. A library user or
 * a test can add one at run time with registerArchitecture; it then takes part in recipes, automatic
 * choice (after the built-in ones), planning, merging, verify and the report like a built-in one.
 */
import { deepseekMoe } from "./deepseek-moe.js";
import { mixtral } from "./mixtral.js";
import type { OutputArchitecture } from "./output-architecture.js";
import { qwen2Moe } from "./qwen2-moe.js";
import { qwen3Moe } from "./qwen3-moe.js";

/** The architectures moe-merge ships, in mergekit-moe's order of preference (which decides automatic choice and prefix ties). */
export const BUILTIN_ARCHITECTURES: readonly OutputArchitecture[] = [mixtral, deepseekMoe, qwen2Moe, qwen3Moe];

const registered: OutputArchitecture[] = [...BUILTIN_ARCHITECTURES];

/** Every architecture known now: the built-in ones, then those registered, in registration order. */
export const ARCHITECTURES: readonly OutputArchitecture[] = registered;

/**
 * Adds an architecture; its schema name and model_type must be new. Returns a function that removes
 * it again (tests).
 */
export function registerArchitecture(arch: OutputArchitecture): () => void {
	const clash = registered.find((a) => a.name === arch.name || a.modelType === arch.modelType);
	if (clash) throw new Error(`cannot register architecture ${arch.name} (model_type ${arch.modelType}): ${clash.name} has that name or model_type`);
	registered.push(arch);
	return () => {
		const at = registered.indexOf(arch);
		if (at >= BUILTIN_ARCHITECTURES.length) registered.splice(at, 1);
	};
}

/** The architecture whose config.json has this model_type, if any. */
export function architectureByModelType(modelType: unknown): OutputArchitecture | undefined {
	return registered.find((a) => a.modelType === modelType);
}

/** The model_types readers know, for messages. */
export function knownModelTypes(): string {
	return registered.map((a) => a.modelType).join(", ");
}
