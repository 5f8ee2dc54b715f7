/** Validated data -> Recipe: defaults, model references, architecture, then mergekit's rules. */
import { dirname, resolve } from "node:path";
import type { RecipeError } from "../errors.js";
import { DEFAULT_EXPERTS_PER_TOKEN } from "../architectures/output-architecture.js";
import { ARCHITECTURES } from "../architectures/registry.js";
import { matchArchitectures } from "./architecture.js";
import { DEFAULT_GATE_MODE } from "./gate-modes.js";
import { locatedError } from "./location.js";
import { toPrompts } from "./prompts.js";
import type { RawExpert, RawRecipe } from "./raw.js";
import { type RefContext, resolveRef } from "./resolve-refs.js";
import { checkRules } from "./rules.js";
import { didYouMean } from "./suggest.js";
import type { ArchitectureName, ExpertSpec, ModelRef, ParseRecipeOptions, Recipe } from "./types.js";
import { throwAll, type YamlSource } from "./yaml-source.js";

export interface BuildInput {
	raw: RawRecipe;
	source: YamlSource;
	text: string;
	options: ParseRecipeOptions;
}

export function buildRecipe({ raw, source, text, options }: BuildInput): Recipe {
	const errors: RecipeError[] = [];
	const ctx: RefContext = { source, baseDir: dirname(resolve(source.file)), errors };
	// Invalid references are reported; a placeholder keeps the rest of the checks going.
	let refsValid = true;
	const ref = (value: RawExpert["source_model"], path: (string | number)[]): ModelRef => {
		// Missing only in a recipe with schema errors, whose rules are checked beside them (rules-beside-schema-errors.ts).
		const result = value === undefined ? undefined : resolveRef(value, path, ctx);
		if (result === undefined) refsValid = false;
		return result ?? { kind: "local", path: "", text: "" };
	};
	const expert = (e: RawExpert, list: "experts" | "shared_experts", i: number): ExpertSpec => {
		const spec: ExpertSpec = {
			source: ref(e.source_model, [list, i, "source_model"]),
			positivePrompts: toPrompts(e.positive_prompts),
			negativePrompts: toPrompts(e.negative_prompts),
			loc: source.locate([list, i]),
		};
		if (e.expert != null) {
			spec.expert = e.expert;
			spec.expertLoc = source.locate([list, i, "expert"]);
		}
		if (e.noise_scale != null) spec.noiseScale = e.noise_scale;
		if (e.residual_scale != null) spec.residualScale = e.residual_scale;
		return spec;
	};

	const baseModel = ref(raw.base_model, ["base_model"]);
	const experts = raw.experts.map((e, i) => expert(e, "experts", i));
	const sharedExperts = (raw.shared_experts ?? []).map((e, i) => expert(e, "shared_experts", i));
	const gateMode = raw.gate_mode ?? DEFAULT_GATE_MODE;
	const expertsPerToken = raw.experts_per_token ?? DEFAULT_EXPERTS_PER_TOKEN;
	const candidates = architectureCandidates(raw, source, errors);

	errors.push(...checkRules({ raw, source, gateMode, expertsPerToken, experts, sharedExperts, refsValid, options }));
	throwAll(errors);

	const recipe: Recipe = {
		file: source.file,
		text,
		baseModel,
		baseModelLoc: source.locate(["base_model"]),
		experts,
		sharedExperts,
		gateMode,
		expertsPerToken,
		expertsPerTokenWritten: raw.experts_per_token != null,
		architectureCandidates: candidates,
		training: {},
	};
	if (raw.output_router_logits != null) recipe.training.outputRouterLogits = raw.output_router_logits;
	if (raw.router_aux_loss_coef != null) recipe.training.routerAuxLossCoef = raw.router_aux_loss_coef;
	// mergekit: `if config.dtype` (an empty string means the default), "torch.bfloat16" = "bfloat16".
	if (raw.dtype) recipe.dtype = raw.dtype.replace(/^torch\./, "") as NonNullable<Recipe["dtype"]>;
	if (raw.architecture) {
		recipe.architecture = candidates[0];
		recipe.architectureLoc = source.locate(["architecture"]);
	}
	return recipe;
}

/** mergekit: `if config.architecture`, so null and "" both mean "choose automatically". */
function architectureCandidates(raw: RawRecipe, source: YamlSource, errors: RecipeError[]): ArchitectureName[] {
	if (!raw.architecture) return ARCHITECTURES.map((a) => a.name);
	const matches = matchArchitectures(raw.architecture);
	if (matches.length === 0) {
		const names = ARCHITECTURES.map((a) => a.displayName);
		const text = `unknown architecture ${JSON.stringify(raw.architecture)}: expected (a case-insensitive prefix of) one of ${names.join(", ")}${didYouMean(raw.architecture, names)}`;
		errors.push(locatedError(text, { loc: source.locate(["architecture"]), path: ["architecture"] }));
	}
	return matches;
}
