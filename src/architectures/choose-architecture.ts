import { ModelError } from "../errors.js";
import type { DenseConfig } from "../inputs/dense-config.js";
import { unsupportedInputReason } from "./input-support.js";
import { type ArchitectureName, type OutputArchitecture, gatesSharedExperts } from "./output-architecture.js";
import { ARCHITECTURES } from "./registry.js";

export interface ArchitectureChoiceInput {
	/** What the recipe's `architecture:` prefix allows, in mergekit's order; undefined = any. */
	candidates?: ArchitectureName[];
	/** Tried before the others (the architecture of an MoE base being edited). */
	prefer?: ArchitectureName;
	/** Every input model (base and experts), with the name messages use. */
	inputs: { label: string; config: DenseConfig }[];
	sharedExperts: number;
	/** Whether the shared experts have positive_prompts (all or none do: a recipe rule). */
	sharedExpertPrompts: boolean;
	/** Whether the gate_mode builds router rows from prompts (else they are random). */
	gatesFromPrompts: boolean;
	/** The shared experts are an MoE base's own, with their gate row when they have one (editing an MoE). */
	sharedKept?: boolean;
}

export interface ArchitectureChoice {
	architecture: OutputArchitecture;
	/** Why this one, in a sentence (`plan` prints it). */
	reason: string;
	/** The ones tried before it and why each did not fit. */
	passedOver: { name: string; reason: string }[];
}

/**
 * Picks the output architecture like mergekit-moe: among the recipe's `architecture:` matches (all when
 * absent), the first in mergekit's order (Mixtral first; registered ones after the built-in ones) that
 * can express every input; otherwise an error listing each one and why not.
 */
export function chooseArchitecture(input: ArchitectureChoiceInput): ArchitectureChoice {
	const allowed = input.candidates ? ARCHITECTURES.filter((a) => input.candidates?.includes(a.name)) : ARCHITECTURES;
	const candidates = [...allowed.filter((a) => a.name === input.prefer), ...allowed.filter((a) => a.name !== input.prefer)];
	const passedOver: ArchitectureChoice["passedOver"] = [];
	for (const arch of candidates) {
		const reason = whyNot(arch, input);
		if (reason !== null) {
			passedOver.push({ name: arch.displayName, reason });
			continue;
		}
		const types = [...new Set(input.inputs.map((i) => i.config.modelType))].join(", ");
		const why = input.candidates
			? `the recipe's architecture: asks for it${passedOver.length > 0 ? " (the first of its matches that fits)" : ""}`
			: arch.name === input.prefer
			? "it is the architecture of the base model (an MoE)"
			: `the first of ${ARCHITECTURES.map((a) => a.displayName).join(", ")} that can express ${types} inputs with ${input.sharedExperts} shared expert(s)`;
		return { architecture: arch, reason: why, passedOver };
	}
	const asked = input.candidates ? ` as ${candidates.map((a) => a.displayName).join(" or ")}` : "";
	throw new ModelError(`no output architecture can express this recipe${asked}:\n  ${passedOver.map((p) => `${p.name}: ${p.reason}`).join("\n  ")}`, {
		hint: hintFor(input),
	});
}

/** Why `arch` cannot express the recipe, or null when it can. */
export function whyNot(arch: OutputArchitecture, input: ArchitectureChoiceInput): string | null {
	const types = [...new Set(input.inputs.map((i) => i.config.modelType))];
	if (types.length > 1) return `all input models must have the same model_type, got ${types.join(", ")}`;
	if (!arch.inputModelTypes.includes(types[0])) {
		return `input model_type "${types[0]}" is not supported (accepted: ${arch.inputModelTypes.join(", ")})`;
	}
	const { min, max } = arch.sharedExperts;
	const gated = gatesSharedExperts(arch);
	const n = input.sharedExperts;
	if (n < min || n > max) {
		if (max === 0) return "it has no shared experts";
		return max === Number.POSITIVE_INFINITY ? `it needs at least ${min} shared expert(s), got ${n}` : `it takes ${min}..${max} shared experts, got ${n}`;
	}
	if (n > 0 && gated && !input.sharedExpertPrompts && input.gatesFromPrompts && !input.sharedKept) {
		return "its shared expert gate is built from prompts: give the shared experts positive_prompts (or use gate_mode random)";
	}
	if (n > 0 && !gated && input.sharedExpertPrompts) {
		return "its shared experts have no gate, so their prompts would mean nothing: remove positive_prompts from shared_experts";
	}
	for (const { label, config } of input.inputs) {
		const reason = unsupportedInputReason(arch, config);
		if (reason) return `${label}: ${reason}`;
	}
	return null;
}

function hintFor(input: ArchitectureChoiceInput): string | undefined {
	const types = new Set(input.inputs.map((i) => i.config.modelType));
	if (types.size === 1 && types.has("qwen2") && input.sharedExperts === 0) {
		return "Qwen2 models become Qwen MoE, which needs a shared expert: add `shared_experts: [{source_model: <one of the models>, positive_prompts: [...]}]`";
	}
	return undefined;
}
