import { stat } from "node:fs/promises";
import { demoModelHint } from "../inputs/demo-models.js";
import { ModelError } from "../errors.js";
import type { WeightSource } from "../safetensors/index.js";
import type { ModelRef } from "../recipe/index.js";
import { ONLY_SAFETENSORS_HINT, folderFileNames, selectWeightFiles } from "../safetensors/index.js";
import { type DenseConfig, normaliseDenseConfig, readConfigObject } from "../inputs/dense-config.js";
import { architectureByModelType, knownModelTypes } from "../architectures/registry.js";
import { checkExpertIndex, denseConfigOfMoeExpert } from "../model/moe-as-dense.js";
import { describeMoe, type MoeSpec } from "../model/moe-spec.js";
import type { HubAccess } from "../hub/hub-context.js";
import { resolveHubModel } from "../hub/resolve-hub-model.js";

/** A model named by the recipe, found on disk, with its config read (weights not opened). */
export interface ResolvedModel {
	ref: ModelRef;
	/** The reference as the recipe wrote it. */
	label: string;
	dir: string;
	/** The Hub commit the snapshot belongs to, for Hub references. */
	commit?: string;
	config: DenseConfig;
	/** Where the weights are when not in `dir` (a Hub model's headers read remotely by `plan`). */
	weightFiles?: WeightSource;
	/** `base+lora`: the peft adapter applied to this model's weights as they are read (src/lora/). */
	adapter?: ResolvedAdapter;
	/** An MoE checkpoint read as a dense model (`config` is that dense model's): its description, and the routed expert that is the MLP (none for a base). */
	moe?: MoeSource;
}

export interface MoeSource {
	spec: MoeSpec;
	expert?: number;
}

/** A LoRA adapter folder found on disk (local, or a Hub repo's snapshot in the cache). */
export interface ResolvedAdapter {
	ref: ModelRef;
	label: string;
	dir: string;
	commit?: string;
}

export interface ResolveModelOptions {
	/** Hub access (token, endpoint, cache, offline, progress, abort); default: the environment's. */
	hub?: HubAccess;
	/** Read configs only (`validate`): a Hub model's weights are checked to exist but not downloaded. */
	configOnly?: boolean;
	/** Config and weight headers only (`plan`): a Hub model's weights are read with range requests, not downloaded. */
	headersOnly?: boolean;
	/** `expert: N` of the recipe: the model must be an MoE, read as a dense model whose MLP is its expert N. */
	expert?: number;
	/** A merge streamed from the Hub: a Hub model's LFS weights are read with range requests as the merge goes, its other files downloaded. */
	rangeWeights?: boolean;
}

/** Finds the folder of a model reference, checks it holds safetensors weights, and reads its config. */
export async function resolveModel(ref: ModelRef, options: ResolveModelOptions = {}): Promise<ResolvedModel> {
	let dir: string;
	let commit: string | undefined;
	if (ref.kind === "lora") {
		const base = await resolveModel(ref.base, options);
		if (base.moe) throw new ModelError(`${ref.text}: a LoRA on an MoE source is not supported`, { file: base.dir });
		// `ref` stays the base's (its Hub repo and commit are the weights'); the label says base+lora.
		return { ...base, label: ref.text, adapter: await resolveAdapter(ref.lora, options) };
	} else if (ref.kind === "hub") {
		// Cache first; downloads what is missing unless HF_HUB_OFFLINE (src/hub/resolve-hub-model.ts).
		const snapshot = await resolveHubModel(ref.repo, ref.revision, options.hub, { configOnly: options.configOnly, headersOnly: options.headersOnly, rangeWeights: options.rangeWeights });
		dir = snapshot.dir;
		commit = snapshot.commit;
		if (options.configOnly) return { ref, label: ref.text, dir, commit, ...(await readSourceConfig(dir, ref.text, options.expert)) };
		if (snapshot.weightFiles) return { ref, label: ref.text, dir, commit, ...(await readSourceConfig(dir, ref.text, options.expert)), weightFiles: snapshot.weightFiles };
	} else {
		dir = ref.path;
		let isDir = false;
		try {
			isDir = (await stat(dir)).isDirectory();
		} catch {
			throw new ModelError(`${ref.text}: model folder ${dir} does not exist`, { file: dir, hint: demoModelHint(dir) });
		}
		if (!isDir) throw new ModelError(`${ref.text}: ${dir} is not a folder`, { file: dir });
	}
	await checkHasSafetensors(dir, ref.text);
	return { ref, label: ref.text, dir, commit, ...(await readSourceConfig(dir, ref.text, options.expert)) };
}

/**
 * A source's config as a dense model's: a dense config.json as it is; an MoE's (model_type of an
 * architecture in the registry) read as the dense model of its attention path and one expert's MLP
 * (src/model/moe-as-dense.ts), with `expert` checked against it.
 */
async function readSourceConfig(dir: string, label: string, expert: number | undefined): Promise<{ config: DenseConfig; moe?: MoeSource }> {
	const { raw, file } = await readConfigObject(dir);
	if (!architectureByModelType(raw.model_type)) {
		if (expert !== undefined) {
			throw new ModelError(`${label}: expert: ${expert} picks a routed expert of an MoE, but this is a dense model (model_type ${JSON.stringify(raw.model_type)}, ${file})`, {
				file,
				hint: `remove expert: to use the whole model, or name an MoE (model_type ${knownModelTypes()})`,
			});
		}
		return { config: normaliseDenseConfig(raw, file) };
	}
	const spec = describeMoe(raw, file);
	if (expert !== undefined) checkExpertIndex(spec, expert, label);
	return { config: denseConfigOfMoeExpert(spec, raw, file), moe: expert === undefined ? { spec } : { spec, expert } };
}

/** The folder of a LoRA adapter: a local folder, or a Hub repo's adapter files downloaded into the cache. */
export async function resolveAdapter(ref: ModelRef, options: ResolveModelOptions): Promise<ResolvedAdapter> {
	if (ref.kind === "hub") {
		const snapshot = await resolveHubModel(ref.repo, ref.revision, options.hub, { adapter: true });
		return { ref, label: ref.text, dir: snapshot.dir, commit: snapshot.commit };
	}
	if (ref.kind !== "local") throw new ModelError(`${ref.text}: a LoRA cannot itself be base+lora`);
	if (!(await stat(ref.path).catch(() => undefined))?.isDirectory()) throw new ModelError(`${ref.text}: LoRA adapter folder ${ref.path} does not exist`, { file: ref.path });
	return { ref, label: ref.text, dir: ref.path };
}

async function checkHasSafetensors(dir: string, label: string): Promise<void> {
	let files: string[];
	try {
		files = await folderFileNames(dir);
	} catch (cause) {
		throw new ModelError(`${label}: cannot list ${dir} (${(cause as NodeJS.ErrnoException).code})`, { file: dir, cause });
	}
	const selected = selectWeightFiles(files);
	if (selected.kind !== "none") return;
	if (selected.otherWeights.length > 0) {
		throw new ModelError(`${label}: ${dir} has no safetensors weights, only PyTorch pickle weights or other formats (${selected.otherWeights.slice(0, 3).join(", ")})`, { file: dir, hint: ONLY_SAFETENSORS_HINT });
	}
	throw new ModelError(`${label}: ${dir} holds no *.safetensors weights`, { file: dir });
}
