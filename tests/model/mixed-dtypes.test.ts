/**
 * A layer whose q/k/v (or gate/up) tensors have different dtypes is stacked in f32 and gives exactly
 * what the same values stored all in f32 give.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fromFloat32, SafetensorsFile, toFloat32 } from "../../src/safetensors/index.js";
import { computePromptStates, ReferenceLinearBackend } from "../../src/model/index.js";
import { buildSafetensors, type RawTensor } from "../safetensors/helpers.js";
import { FIXTURES } from "./helpers.js";

const F32_MODEL = join(FIXTURES, "dense/llama-headdim-f32/base");
const NARROWED = ["model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.up_proj.weight"];

/** The f32 model with the NARROWED tensors rounded to bf16, stored as BF16 (`narrow`) or as F32. */
async function variant(dir: string, narrow: boolean): Promise<void> {
	const file = await SafetensorsFile.open(join(F32_MODEL, "model.safetensors"));
	const tensors: RawTensor[] = [];
	try {
		for (const [name, info] of file.header.tensors) {
			const data = new Uint8Array(info.end - info.begin);
			await file.read(info, 0, data.length, data);
			if (!NARROWED.includes(name)) {
				tensors.push({ name, dtype: info.dtype, shape: info.shape, data });
				continue;
			}
			const bf16 = fromFloat32(toFloat32(data, "F32", data.length / 4), "BF16");
			const asF32 = toFloat32(bf16, "BF16", bf16.length / 2);
			tensors.push({ name, dtype: narrow ? "BF16" : "F32", shape: info.shape, data: narrow ? bf16 : new Uint8Array(asF32.buffer) });
		}
	} finally {
		await file.close();
	}
	await writeFile(join(dir, "model.safetensors"), buildSafetensors(tensors, { format: "pt" }));
	await copyFile(join(F32_MODEL, "config.json"), join(dir, "config.json"));
}

test("mixed dtypes inside a fused projection", async (t) => {
	const root = await mkdtemp(join(tmpdir(), "moe-merge-mixed-"));
	t.after(() => rm(root, { recursive: true, force: true }));
	const [mixed, plain] = [join(root, "mixed"), join(root, "plain")];
	await Promise.all([mkdir(mixed), mkdir(plain)]);
	await variant(mixed, true);
	await variant(plain, false);
	const backend = new ReferenceLinearBackend();
	const prompts = [[1, 5, 9, 33, 70, 2, 11], [7, 8]];
	const a = await computePromptStates(mixed, { prompts }, { backend, logits: true });
	const b = await computePromptStates(plain, { prompts }, { backend, logits: true });
	assert.deepEqual(a.states, b.states);
	assert.deepEqual(a.logits, b.logits);
	const original = await computePromptStates(F32_MODEL, { prompts }, { backend, logits: true });
	assert.notDeepEqual(a.logits, original.logits, "the narrowed tensors really changed");
});
