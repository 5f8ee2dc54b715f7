/**
 * The inputs of `apply-lora`: the checkpoint and each adapter named by a local folder or a Hub repo
 * `org/name[@revision]`, resolved to folders (Hub repos downloaded into the HF cache like a recipe's
 * models; adapters take only adapter_config.json and adapter_model.safetensors) with their commits.
 */
import { stat } from "node:fs/promises";
import { ModelError } from "../errors.js";
import type { HubAccess } from "../hub/hub-context.js";
import { resolveHubModel } from "../hub/resolve-hub-model.js";
import { DEFAULT_REVISION, parseModelRef } from "../recipe/index.js";
import { resolveAdapter } from "./resolve-model.js";

/** One input folder and where it came from. */
export interface ApplyLoraInput {
	/** The reference as given. */
	label: string;
	dir: string;
	/** Hub inputs: the repo, the revision asked for and the commit it resolved to. */
	hub?: { repo: string; revision: string };
	commit?: string;
}

/** Whether any of the references names a Hub repo (the caller then opens Hub access). */
export function namesHubRepo(refs: readonly string[]): boolean {
	return refs.some((text) => parseModelRef(text, process.cwd()).kind !== "local");
}

/** Resolves the checkpoint and the adapters (downloading Hub ones when the cache lacks them). */
export async function resolveApplyLoraInputs(model: string, adapters: readonly string[], hub?: HubAccess): Promise<{ model: ApplyLoraInput; adapters: ApplyLoraInput[] }> {
	const resolved: ApplyLoraInput[] = [];
	for (const text of adapters) {
		const ref = parseModelRef(text, process.cwd());
		if (ref.kind === "lora") throw new ModelError(`${text}: an adapter is a folder or a Hub repo, not base+lora`);
		const found = await resolveAdapter(ref, { hub });
		resolved.push({ label: text, dir: found.dir, commit: found.commit, ...(ref.kind === "hub" && { hub: { repo: ref.repo, revision: ref.revision ?? DEFAULT_REVISION } }) });
	}
	return { model: await resolveCheckpoint(model, hub), adapters: resolved };
}

async function resolveCheckpoint(text: string, hub: HubAccess | undefined): Promise<ApplyLoraInput> {
	const ref = parseModelRef(text, process.cwd());
	if (ref.kind === "lora") throw new ModelError(`${text}: apply-lora takes the model and its adapters as separate arguments, not base+lora`, { hint: `moe-merge apply-lora ${ref.base.text} ${ref.lora.text} -o <out>` });
	if (ref.kind === "hub") {
		const revision = ref.revision ?? DEFAULT_REVISION;
		const snapshot = await resolveHubModel(ref.repo, revision, hub);
		return { label: text, dir: snapshot.dir, commit: snapshot.commit, hub: { repo: ref.repo, revision } };
	}
	if (!(await stat(ref.path).catch(() => undefined))?.isDirectory()) throw new ModelError(`${text}: model folder ${ref.path} does not exist`, { file: ref.path });
	return { label: text, dir: ref.path };
}
