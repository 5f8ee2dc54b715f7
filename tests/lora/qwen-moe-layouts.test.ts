import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { ReferenceLinearBackend } from "../../src/model/reference-linear.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { toFloat32 } from "../../src/safetensors/index.js";
import { FIXTURES, tempDir } from "../merge/helpers.js";
import { allTensors, maxUlps, writeRandomAdapter } from "./helpers.js";

const DENSE = join(FIXTURES, "dense", "llama-rope-llama3");
const H = 64;
const I = 128;

describe("apply-lora on a Qwen MoE (routed experts, router, shared expert) in both expert layouts", () => {
	it("a transformers-4 adapter gives the same weights on the per-expert and the fused checkpoint, W + scale·B·A", async () => {
		const dir = await tempDir("moe-merge-lora-qwen-");
		const recipe = join(dir, "recipe.yml");
		await writeFile(recipe, [`base_model: ${DENSE}/base`, "gate_mode: random", "architecture: qwen", "experts:", `  - source_model: ${DENSE}/expert-a`, `  - source_model: ${DENSE}/expert-b`, "shared_experts:", `  - source_model: ${DENSE}/base`, ""].join("\n"));
		for (const layout of ["per-expert", "fused"] as const) await runMerge(await loadRecipe(recipe), { outputDir: join(dir, layout), seed: 1, layout });
		const adapter = join(dir, "adapter");
		const modules = [0, 1].flatMap((l) => [
			{ module: `model.layers.${l}.mlp.experts.1.gate_proj`, out: I, in: H },
			{ module: `model.layers.${l}.mlp.experts.0.up_proj`, out: I, in: H },
			{ module: `model.layers.${l}.mlp.experts.0.down_proj`, out: H, in: I },
			{ module: `model.layers.${l}.mlp.gate`, out: 2, in: H },
			{ module: `model.layers.${l}.mlp.shared_expert.up_proj`, out: I, in: H },
			{ module: `model.layers.${l}.self_attn.q_proj`, out: H, in: H },
		]);
		await writeRandomAdapter(adapter, modules, 4, 8);
		const backend = new ReferenceLinearBackend();
		for (const layout of ["per-expert", "fused"] as const) await applyLora({ model: join(dir, layout), adapters: [adapter], outputDir: join(dir, `${layout}-lora`), backend });
		const per = await allTensors(join(dir, "per-expert-lora"));
		const fused = await allTensors(join(dir, "fused-lora"));
		const before = await allTensors(join(dir, "per-expert"));
		const adapterTensors = await allTensors(adapter);
		for (const l of [0, 1]) {
			const p = `model.layers.${l}.mlp.experts`;
			const gateUp = Buffer.concat([0, 1].flatMap((e) => [per.get(`${p}.${e}.gate_proj.weight`)!, per.get(`${p}.${e}.up_proj.weight`)!]));
			assert.ok(gateUp.equals(fused.get(`${p}.gate_up_proj`)!), `layer ${l} gate_up_proj`);
			assert.ok(Buffer.concat([0, 1].map((e) => per.get(`${p}.${e}.down_proj.weight`)!)).equals(fused.get(`${p}.down_proj`)!), `layer ${l} down_proj`);
			for (const name of [`model.layers.${l}.mlp.gate.weight`, `model.layers.${l}.mlp.shared_expert.up_proj.weight`, `model.layers.${l}.self_attn.q_proj.weight`]) {
				assert.ok(Buffer.from(per.get(name)!).equals(fused.get(name)!), name);
				assert.ok(!Buffer.from(per.get(name)!).equals(before.get(name)!), `${name} changed`);
			}
			// W + (alpha / r)·B·A, computed here in float64 and rounded to bf16, for one expert matrix.
			const name = `${p}.1.gate_proj.weight`;
			const module = `base_model.model.${p}.1.gate_proj`;
			const a = toFloat32(adapterTensors.get(`${module}.lora_A.weight`)!, "F32", 4 * H);
			const b = toFloat32(adapterTensors.get(`${module}.lora_B.weight`)!, "F32", I * 4);
			const w = toFloat32(before.get(name)!, "BF16", I * H);
			const want = new Float32Array(I * H);
			for (let o = 0; o < I; o++) for (let i = 0; i < H; i++) {
				let d = 0;
				for (let k = 0; k < 4; k++) d += b[o * 4 + k] * a[k * H + i];
				want[o * H + i] = w[o * H + i] + 2 * d;
			}
			const bf16 = new Uint16Array(want.length);
			for (let i = 0; i < want.length; i++) {
				const bits = new Uint32Array(new Float32Array([want[i]]).buffer)[0];
				bf16[i] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
			}
			assert.ok(maxUlps(per.get(name)!, new Uint8Array(bf16.buffer), 2) <= 1, name);
			// Untouched: expert 0's gate_proj.
			assert.ok(Buffer.from(per.get(`${p}.0.gate_proj.weight`)!).equals(before.get(`${p}.0.gate_proj.weight`)!));
		}
	});
});
