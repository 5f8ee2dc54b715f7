import { ModelError } from "../errors.js";
import { type ArchitectureName, type GateMode, usesPrompts } from "../recipe/index.js";
import { mixtral } from "./mixtral.js";
import type { OutputArchitecture } from "./output-architecture.js";

/** Implemented output architectures, in mergekit-moe's order of preference. */
export const ARCHITECTURES: readonly OutputArchitecture[] = [mixtral];

/** Architectures a recipe may name that this version cannot write yet, and the inputs they will take. */
const PLANNED: Record<string, string> = { qwen2_moe: "Qwen MoE", qwen3_moe: "Qwen3 MoE", deepseek_moe: "DeepSeek MoE" };
const PLANNED_INPUTS: Record<string, string> = { qwen2: "Qwen MoE (Qwen2-MoE)", qwen3: "Qwen3 MoE" };

export interface ArchitectureChoiceInput {
	/** What the recipe's `architecture:` prefix allows, in mergekit's order; undefined = any. */
	candidates?: ArchitectureName[];
	/** model_type of every input model (base and experts). */
	inputModelTypes: string[];
	sharedExperts: number;
	/** Whether the shared experts have positive_prompts (all or none do: a recipe rule). */
	sharedExpertPrompts: boolean;
	gateMode: GateMode;
}

/**
 * Picks the output architecture like mergekit-moe: an explicit choice must support the inputs;
 * otherwise the first one (Mixtral preferred) that supports them, or an error listing why none do.
 */
export function chooseArchitecture(input: ArchitectureChoiceInput): OutputArchitecture {
	const candidates = input.candidates ? ARCHITECTURES.filter((a) => input.candidates?.includes(a.name)) : ARCHITECTURES;
	if (candidates.length === 0) {
		const wanted = (input.candidates ?? []).map((name) => PLANNED[name] ?? name).join(" or ");
		throw new ModelError(`architecture ${wanted} is not available in this version of moe-merge`, {
			hint: `supported now: ${ARCHITECTURES.map((a) => a.displayName).join(", ")}`,
		});
	}
	const reasons: string[] = [];
	for (const arch of candidates) {
		const reason = whyNot(arch, input);
		if (reason === null) return arch;
		reasons.push(`${arch.displayName}: ${reason}`);
	}
	const later = [...new Set(input.inputModelTypes)].map((t) => PLANNED_INPUTS[t]).filter(Boolean);
	throw new ModelError(`no output architecture can express this recipe:\n  ${reasons.join("\n  ")}`, {
		hint: later.length > 0 ? `these models need ${later.join(" / ")} output, which comes in a later version of moe-merge` : undefined,
	});
}

/** Why `arch` cannot express the recipe, or null when it can. */
export function whyNot(arch: OutputArchitecture, input: ArchitectureChoiceInput): string | null {
	const types = [...new Set(input.inputModelTypes)];
	if (types.length > 1) return `all input models must have the same model_type, got ${types.join(", ")}`;
	if (!arch.inputModelTypes.includes(types[0])) {
		return `input model_type "${types[0]}" is not supported (accepted: ${arch.inputModelTypes.join(", ")})`;
	}
	const { min, max, needPrompts } = arch.sharedExperts;
	if (input.sharedExperts < min || input.sharedExperts > max) {
		return max === 0 ? "it has no shared experts" : `it needs ${min}..${max} shared experts, got ${input.sharedExperts}`;
	}
	if (needPrompts && input.sharedExperts > 0 && !input.sharedExpertPrompts && usesPrompts(input.gateMode)) {
		return `its shared expert gate is built from prompts: give the shared expert positive_prompts (or use gate_mode random)`;
	}
	return null;
}
