import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { normaliseDenseConfig, readDenseConfig } from "../../src/inputs/dense-config.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { FIXTURES } from "../merge/helpers.js";
import { sameBytes, tensorBytes } from "../merge/tensor-compare.js";

export const MODELS = join(FIXTURES, "models");
export const [LLAMA_BASE, LLAMA_A, LLAMA_B] = ["llama-base", "llama-expert-a", "llama-expert-b"].map((m) => join(MODELS, m));
export const QWEN2 = join(FIXTURES, "dense", "qwen2-bias", "base");
export const QWEN3 = join(FIXTURES, "hidden-extra", "qwen3-bias-sliding-tied");

/** Merges `experts` (and shared experts) on `base` into an MoE of `architecture` at `out`. */
export async function mergeMoe(dir: string, out: string, options: { architecture: string; base: string; experts: string[]; shared?: string[]; layout?: "per-expert" | "fused" }): Promise<void> {
	const lines = [`base_model: ${options.base}`, "gate_mode: random", "dtype: bfloat16", `architecture: ${options.architecture}`, "experts:"];
	for (const e of options.experts) lines.push(`  - source_model: ${e}`);
	if (options.shared) {
		lines.push("shared_experts:");
		for (const s of options.shared) lines.push(`  - source_model: ${s}`);
	}
	const file = join(dir, `${options.architecture}-${options.layout ?? "per-expert"}.yml`);
	await writeFile(file, `${lines.join("\n")}\n`);
	await runMerge(await loadRecipe(file, { allowSameModelExperts: true }), { outputDir: out, seed: 1, layout: options.layout });
}

/** Every tensor of `dir`, raw bytes by name. */
export async function allTensors(dir: string): Promise<Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>> {
	const weights = await ModelWeights.open(dir);
	try {
		const out = new Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>();
		for (const name of weights.names()) {
			const { info } = weights.get(name);
			out.set(name, { dtype: info.dtype, shape: info.shape, bytes: await tensorBytes(weights, name) });
		}
		return out;
	} finally {
		await weights.close();
	}
}

/** The two models hold the same tensors, byte for byte (`mlpFrom`: the MLP tensors compared with that model instead). */
export async function assertSameTensors(extracted: string, original: string, mlpFrom?: string): Promise<void> {
	const ours = await allTensors(extracted);
	const theirs = await allTensors(original);
	const mlp = mlpFrom ? await allTensors(mlpFrom) : theirs;
	assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
	for (const [name, t] of ours) {
		const want = (name.includes(".mlp.") ? mlp : theirs).get(name)!;
		assert.equal(t.dtype, want.dtype, name);
		assert.deepEqual(t.shape, want.shape, name);
		assert.ok(sameBytes(t.bytes, want.bytes), `${name} differs`);
	}
}

/** The config values that decide the computation, as the dense reader normalises them, are the original's. */
export async function assertSameDenseConfig(extracted: string, original: string): Promise<void> {
	const strip = ({ file: _f, raw: _r, architectures: _a, ...rest }: ReturnType<typeof normaliseDenseConfig>) => rest;
	assert.deepEqual(strip(await readDenseConfig(extracted)), strip(await readDenseConfig(original)));
}
