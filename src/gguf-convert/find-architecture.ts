/** The GGUF description of a config.json model_type, from the architecture descriptions that carry one. */
import { ARCHITECTURES } from "../architectures/registry.js";
import { INPUT_FAMILIES } from "../inputs/input-families.js";
import type { GgufArchitecture } from "../gguf/architecture.js";

export function ggufArchitectureOf(modelType: string): GgufArchitecture | undefined {
	const described = [...ARCHITECTURES.map((a) => a.gguf), ...INPUT_FAMILIES.map((f) => f.gguf)];
	return described.find((g) => g?.modelTypes.includes(modelType));
}
