import { type ArchitectureChoice, chooseArchitecture } from "../architectures/choose-architecture.js";
import { type OutputArchitecture, defaultExpertsPerToken } from "../architectures/output-architecture.js";
import { readdir } from "node:fs/promises";
import { ModelError, MoeMergeError } from "../errors.js";
import { NO_TOKENIZER, TOKENIZER_USERS, hasTokenizer } from "../verify/check-tokenizer-files.js";
import { type HubAccess, openHub } from "../hub/hub-context.js";
import { checkCompatible, compatibleProblem } from "./check-compatible.js";
import { type ResolvedModel, resolveModel } from "./resolve-model.js";
import { type ExpertSpec, type ModelRef, type Recipe, type SourceLoc, expertSourceKey, usesHub, usesPrompts } from "../recipe/index.js";
import { type FloatDType, dtypeOfTorchName } from "../safetensors/index.js";
import { normaliseDenseConfig } from "../inputs/dense-config.js";

export interface ResolvedRecipe {
	recipe: Recipe;
	/** Each distinct input model once (an expert may also be the base). */
	models: ResolvedModel[];
	/** Index into `models` of the base. */
	base: number;
	/** Index into `models` of each routed expert, in recipe order. */
	experts: number[];
	/** Index into `models` of each shared expert, in recipe order. */
	sharedExperts: number[];
	architecture: OutputArchitecture;
	/** Why that architecture, and why not the ones before it. */
	architectureChoice: ArchitectureChoice;
	/** As the recipe writes it, else the architecture's default. */
	expertsPerToken: number;
	/**
	 * A base MoE's own shared expert, kept because the recipe lists no shared_experts: its width in units
	 * of the routed experts' intermediate size (what the output config counts), and its base model index.
	 */
	keptSharedExpert?: { source: number; slots: number };
	dtype: FloatDType;
	warnings: string[];
}

export interface ResolveRecipeOptions {
	/** How Hub models are found and downloaded (token, endpoint, cache, offline, progress, abort); default: the environment's. */
	hub?: HubAccess;
	/** Configs only (`validate`): Hub weights are checked to exist, not downloaded. */
	configOnly?: boolean;
	/** Configs and weight headers only (`plan`): Hub weights are read with range requests. */
	headersOnly?: boolean;
	/** Hub weights read with range requests as the merge goes (resolve-model.ts). */
	rangeWeights?: boolean;
}

/**
 * Everything that can be checked from configs alone, before any weight is read: every model found,
 * same shapes, an output architecture that can express them, an output dtype. Used by `validate`,
 * `plan` and the merge itself.
 */
export async function resolveRecipeModels(recipe: Recipe, options: ResolveRecipeOptions = {}): Promise<ResolvedRecipe> {
	const models: ResolvedModel[] = [];
	const locs: SourceLoc[] = [];
	const byKey = new Map<string, number>();
	const refs = recipeRefs(recipe).map((r) => r.ref);
	// One context for every Hub model of the recipe: the token is looked up once.
	const hub = refs.some(usesHub) ? await openHub(options.hub) : undefined;
	const resolveAt = async (source: Pick<ExpertSpec, "source" | "expert" | "expertLoc">, loc: SourceLoc, role: "base" | "expert"): Promise<number> => {
		const key = expertSourceKey(source);
		const known = byKey.get(key);
		if (known !== undefined) return known;
		let model: ResolvedModel;
		try {
			model = await resolveModel(source.source, { hub, configOnly: options.configOnly, headersOnly: options.headersOnly, expert: source.expert, rangeWeights: options.rangeWeights });
		} catch (error) {
			throw at(source.expertLoc ?? loc, error);
		}
		if (role === "expert" && model.moe && model.moe.expert === undefined) {
			const n = model.moe.spec.experts;
			throw at(loc, new ModelError(`${model.label} is a ${model.moe.spec.arch.displayName} with ${n} experts, not a dense model: pick one of its experts with \`expert: N\` (0 to ${n - 1}) beside source_model`, { file: model.config.file }));
		}
		models.push(model);
		locs.push(loc);
		byKey.set(key, models.length - 1);
		return models.length - 1;
	};
	const base = await resolveAt({ source: recipe.baseModel }, recipe.baseModelLoc, "base");
	const experts: number[] = [];
	for (const expert of recipe.experts) experts.push(await resolveAt(expert, expert.loc, "expert"));
	const sharedExperts: number[] = [];
	for (const expert of recipe.sharedExperts) sharedExperts.push(await resolveAt(expert, expert.loc, "expert"));

	readMixtralAsMistral(models);
	const others = models.flatMap((m, i) => (i === base ? [] : [{ model: m, loc: locs[i]! }]));
	try {
		checkCompatible(models[base], others.map((o) => o.model));
	} catch (error) {
		// Located at the first source that differs from the base (the message lists all of them).
		const first = others.find((o) => compatibleProblem(models[base]!, o.model).length > 0);
		throw first ? at(first.loc, error) : error;
	}
	const baseMoe = models[base].moe;
	const keptShared = keptSharedExpert(recipe, models[base]);
	const sharedCount = keptShared ? keptShared.slots : recipe.sharedExperts.length;
	const choice = chooseArchitecture({
		candidates: recipe.architecture ? recipe.architectureCandidates : undefined,
		// Editing an MoE: its own architecture first, when the recipe names none.
		prefer: baseMoe && !recipe.architecture ? baseMoe.spec.arch.name : undefined,
		inputs: models.map((m) => ({ label: m.label, config: m.config })),
		sharedExperts: sharedCount,
		sharedExpertPrompts: recipe.sharedExperts.some((e) => e.positivePrompts.length > 0),
		gatesFromPrompts: usesPrompts(recipe.gateMode),
		sharedKept: keptShared !== undefined,
	});
	const { architecture } = choice;
	const dtypeName = recipe.dtype ?? models[base].config.dtype ?? "bfloat16";
	const dtype = dtypeOfTorchName(dtypeName);
	if (!dtype) {
		throw new MoeMergeError(`the base model's torch_dtype "${dtypeName}" is not float32, float16 or bfloat16; set dtype: in the recipe`, {
			file: models[base].config.file,
		});
	}
	const warnings: string[] = [];
	if (architecture.remoteCode) {
		warnings.push(`${architecture.displayName} has no modeling code in transformers: load the output with trust_remote_code=True (the code comes from ${architecture.remoteCode} on the Hub)`);
	}
	// A Hub base read for its config alone (validate, plan) has no tokenizer files in the cache to look at.
	const baseModel = models[base];
	if ((baseModel.ref.kind !== "hub" || !(options.configOnly || options.headersOnly)) && !hasTokenizer(await readdir(baseModel.dir))) {
		warnings.push(`the base model ${baseModel.label} has ${NO_TOKENIZER}, so the output will have none: ${TOKENIZER_USERS}; copy a tokenizer into the output before use (moe-merge verify warns about it too)`);
	}
	const E = recipe.experts.length;
	if ((E & (E - 1)) !== 0) {
		warnings.push(`${E} experts is not a power of two; older llama.cpp versions cannot load such a model`);
	}
	const expertsPerToken = recipe.expertsPerTokenWritten ? recipe.expertsPerToken : defaultExpertsPerToken(architecture, sharedCount);
	if (expertsPerToken > E) {
		throw new MoeMergeError(`${architecture.displayName}'s default of ${expertsPerToken} experts per token is more than the ${E} experts of the recipe; set experts_per_token`, { file: recipe.file });
	}
	const kept = keptShared && architecture.sharedExpertNames ? { keptSharedExpert: { source: base, slots: keptShared.slots } } : {};
	return { recipe, models, base, experts, sharedExperts, architecture, architectureChoice: choice, expertsPerToken, dtype, warnings, ...kept };
}

/**
 * An MoE base's shared expert, kept when the recipe lists no shared_experts (listing them replaces it):
 * the output writes shared experts as a multiple of the routed experts' intermediate size, so one of
 * another width is refused.
 */
function keptSharedExpert(recipe: Recipe, base: ResolvedModel): { slots: number } | undefined {
	const spec = base.moe?.spec;
	if (recipe.sharedExperts.length > 0 || !spec?.sharedIntermediate) return undefined;
	const slots = spec.sharedIntermediate / spec.expertIntermediate;
	if (!Number.isInteger(slots)) {
		throw new ModelError(`${recipe.file}: the base ${base.label}'s shared expert has ${spec.sharedIntermediate} intermediate rows, not a multiple of its experts' ${spec.expertIntermediate}, so it cannot be kept as it is`, {
			file: recipe.file,
			hint: "list shared_experts in the recipe to replace it",
		});
	}
	return { slots };
}

/**
 * An MoE with Mistral attention and no sliding window (Mixtral-8x7B) reads as a Llama model, as extract
 * writes it; beside dense Mistral models it is read as Mistral, the same computation, so that they are
 * one family (adding a Mistral fine-tune to a Mixtral).
 */
function readMixtralAsMistral(models: ResolvedModel[]): void {
	if (!models.some((m) => !m.moe && m.config.modelType === "mistral")) return;
	for (const m of models) {
		if (m.moe?.spec.arch.attention === "mistral" && m.config.modelType === "llama") m.config = normaliseDenseConfig({ ...m.config.raw, model_type: "mistral" }, m.config.file);
	}
}

/** Every model reference of the recipe with the position that names it: the base, the experts, the shared experts. */
function recipeRefs(recipe: Recipe): { ref: ModelRef; loc: SourceLoc }[] {
	return [{ ref: recipe.baseModel, loc: recipe.baseModelLoc }, ...[...recipe.experts, ...recipe.sharedExperts].map((e) => ({ ref: e.source, loc: e.loc }))];
}

/**
 * The recipe's Hub models (as written, each once), and a check of its local models alone: each found,
 * with safetensors weights and a readable config. For `validate` when the Hub cannot be reached.
 */
export async function checkLocalModels(recipe: Recipe): Promise<{ hubModels: string[] }> {
	const hubModels = new Set<string>();
	for (const { ref, loc } of recipeRefs(recipe)) {
		if (usesHub(ref)) hubModels.add(ref.text);
		else await resolveModel(ref).catch((error: unknown) => Promise.reject(at(loc, error)));
	}
	return { hubModels: [...hubModels] };
}

/** Prefixes an error about a model with the recipe position that names it. */
function at(loc: SourceLoc, error: unknown): unknown {
	if (!(error instanceof MoeMergeError)) return error;
	const Kind = error.constructor as typeof MoeMergeError;
	return new Kind(`${loc.file}:${loc.line}:${loc.column}: ${error.message}`, { file: error.file ?? loc.file, hint: error.hint, cause: error });
}
