/**
 * mergekit-moe's checks before any work (moe/config.py `is_bad_config`, scripts/moe.py), each
 * with the position it is about. Architecture-specific rules (how many shared experts, which
 * model types) need the models' configs and are checked later.
 */
import type { RecipeError } from "../errors.js";
import { locatedError } from "./location.js";
import { usesPrompts } from "./gate-modes.js";
import { expertSourceKey, keepsRouterRow } from "./moe-sources.js";
import { promptListKey } from "./prompts.js";
import type { RawRecipe } from "./raw.js";
import type { ExpertSpec, GateMode, ParseRecipeOptions } from "./types.js";
import type { YamlSource } from "./yaml-source.js";

export const SAME_MODEL_FLAG = "--i-understand-this-is-not-useful-without-training";

export interface RuleInput {
	raw: RawRecipe;
	source: YamlSource;
	gateMode: GateMode;
	expertsPerToken: number;
	experts: ExpertSpec[];
	sharedExperts: ExpertSpec[];
	/** False when some model reference was invalid: comparing models would be meaningless. */
	refsValid: boolean;
	options: ParseRecipeOptions;
}

export function checkRules(input: RuleInput): RecipeError[] {
	return [...checkExpertCount(input), ...checkPrompts(input), ...checkSameModel(input), ...checkSharedPrompts(input)];
}

function checkExpertCount({ raw, source, expertsPerToken, experts, sharedExperts }: RuleInput): RecipeError[] {
	if (expertsPerToken <= experts.length) return [];
	const n = experts.length;
	const written = raw.experts_per_token != null;
	// With a shared expert the default is the output architecture's (2 for all four today), checked once it is chosen.
	if (!written && sharedExperts.length > 0) return [];
	const text = `${expertsPerToken} experts per token${written ? "" : " (the default)"} but only ${n} expert${n === 1 ? "" : "s"}; lower experts_per_token or add experts`;
	return [locatedError(text, { loc: written ? source.locate(["experts_per_token"]) : source.locateKey(["experts"]), path: ["experts_per_token"] })];
}

function checkPrompts({ raw, source, gateMode, experts }: RuleInput): RecipeError[] {
	if (!usesPrompts(gateMode)) return [];
	const errors: RecipeError[] = [];
	experts.forEach((expert, i) => {
		// An expert taken from an MoE without prompts keeps its router row from that MoE.
		if (expert.positivePrompts.length > 0 || keepsRouterRow(expert)) return;
		const written = raw.experts[i].positive_prompts != null;
		const path = written ? ["experts", i, "positive_prompts"] : ["experts", i];
		errors.push(
			locatedError(`no positive_prompts: with gate_mode ${gateMode} every expert needs at least one example prompt of what to route to it (or use gate_mode random)`, {
				loc: source.locate(path),
				path: ["experts", i, "positive_prompts"],
			}),
		);
	});
	const prompted = experts.filter((e) => !keepsRouterRow(e));
	if (errors.length > 0 || prompted.length < 2) return errors;
	const first = promptKey(prompted[0]);
	if (prompted.every((e) => promptKey(e) === first)) {
		errors.push(
			locatedError("every expert has the same positive_prompts and negative_prompts, so the routers could not tell them apart; give each expert prompts for what it is good at", {
				loc: source.locateKey(["experts"]),
				path: ["experts"],
			}),
		);
	}
	return errors;
}

function promptKey(expert: ExpertSpec): string {
	return `${promptListKey(expert.positivePrompts)}\n${promptListKey(expert.negativePrompts)}`;
}

// Refused for every gate mode (mergekit skips it for random gates): copies of one model are only
// useful as a start for training, which the flag acknowledges.
function checkSameModel({ source, experts, refsValid, options }: RuleInput): RecipeError[] {
	if (options.allowSameModelExperts || !refsValid || experts.length < 2) return [];
	const first = expertSourceKey(experts[0]);
	if (!experts.every((e) => expertSourceKey(e) === first)) return [];
	const text = `every expert is the same model (${experts[0].source.text}): the result would use more memory and answer exactly like that model; if you will train it after merging, pass ${SAME_MODEL_FLAG}`;
	return [locatedError(text, { loc: source.locateKey(["experts"]), path: ["experts"] })];
}

function checkSharedPrompts({ source, sharedExperts }: RuleInput): RecipeError[] {
	const names = (has: boolean): string =>
		sharedExperts
			.map((e, i) => ((e.positivePrompts.length > 0) === has ? `shared_experts[${i}]` : ""))
			.filter(Boolean)
			.join(", ");
	const withPrompts = names(true);
	const without = names(false);
	if (withPrompts === "" || without === "") return [];
	return [
		locatedError(`positive_prompts are given for ${withPrompts} but not for ${without}; give prompts to all shared experts or to none`, {
			loc: source.locateKey(["shared_experts"]),
			path: ["shared_experts"],
		}),
	];
}
