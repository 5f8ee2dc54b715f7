/**
 * The `base+lora` models of a recipe: each adapter opened, checked against its model and applied to
 * that model's weights as they are read (lora-weights.ts), so the merge streams W + scale·B·A without a
 * merged copy, and the gates' forward pass of a base with a LoRA sees the adapted weights.
 */
import { ModelError } from "../errors.js";
import type { ResolvedModel } from "./resolve-model.js";
import { ComputeEngine } from "../kernels/index.js";
import type { ModelWeights } from "../safetensors/index.js";
import { type LoraAdapter, closeAdapter, openAdapter } from "../lora/adapter-files.js";
import { baseModelMismatch } from "../lora/base-model-check.js";
import { applyAdapters } from "../lora/lora-weights.js";

export interface LoraInputs {
	/** Per model (index of `models`), its adapter, when it has one. */
	adapters: Map<number, LoraAdapter>;
	warnings: string[];
	close(): Promise<void>;
}

/** Replaces, in `weights`, each base+lora model's weights by the adapted ones. */
export async function openLoraInputs(models: readonly ResolvedModel[], weights: ModelWeights[], options: { threads?: number; locked?: boolean }): Promise<LoraInputs> {
	const adapters = new Map<number, LoraAdapter>();
	const warnings: string[] = [];
	let engine: ComputeEngine | undefined;
	const close = async () => {
		await engine?.close();
		for (const adapter of adapters.values()) await closeAdapter(adapter);
	};
	try {
		for (const [i, model] of models.entries()) {
			if (!model.adapter) continue;
			const adapter = await openAdapter(model.adapter.dir, model.adapter.label);
			adapters.set(i, adapter);
			const mismatch = baseModelMismatch(adapter, { ref: model.ref.kind === "lora" ? model.ref.base.text : model.label, config: model.config.raw });
			if (mismatch && options.locked) throw new ModelError(mismatch, { file: adapter.dir, hint: "name the model it was made for, or leave out --locked to apply it anyway" });
			if (mismatch) warnings.push(mismatch);
			engine ??= await ComputeEngine.create({ threads: options.threads });
			weights[i] = (await applyAdapters(weights[i], [adapter], engine, { tiedHead: model.config.raw.tie_word_embeddings === true })).weights;
		}
	} catch (error) {
		await close();
		throw error;
	}
	return { adapters, warnings, close };
}
