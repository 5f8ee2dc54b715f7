/** The GGUF description of a config.json model_type: the `gguf` part of the architecture or input family of that model_type. */
import { ARCHITECTURES } from "../architectures/registry.js";
import { INPUT_FAMILIES } from "../inputs/input-families.js";
import type { GgufArchitecture } from "../gguf/architecture.js";

export function ggufArchitectureOf(modelType: string): GgufArchitecture | undefined {
	return [...ARCHITECTURES, ...INPUT_FAMILIES].find((d) => d.modelType === modelType)?.gguf;
}
