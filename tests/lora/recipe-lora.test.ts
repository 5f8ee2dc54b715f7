import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ModelWeights, dtypeBytes } from "../../src/safetensors/index.js";
import { FIXTURES, tempDir, writeRecipe } from "../merge/helpers.js";
import { tensorBytes } from "../merge/tensor-compare.js";
import { LORA, allTensors, maxUlps } from "./helpers.js";

const BASE = join(FIXTURES, "dense", "llama-rope-llama3", "base");
const PLAIN = join(LORA, "plain", "adapter");
const DORA = join(LORA, "dora", "adapter");
const MIXTRAL_NAME: Record<string, string> = { gate_proj: "w1", up_proj: "w3", down_proj: "w2" };

describe("base+lora in recipes: each targeted weight written as W + scale·B·A while it streams", () => {
	it("base and experts with LoRAs (string form) equal peft's merge, untouched tensors bit-identical", async () => {
		const dir = await tempDir("moe-merge-recipe-lora-");
		const recipe = await writeRecipe(dir, { base: `${BASE}+${PLAIN}`, experts: [{ model: `${BASE}+${PLAIN}` }, { model: `${BASE}+${DORA}` }], dtype: "bfloat16" });
		const out = join(dir, "out");
		const result = await runMerge(await loadRecipe(recipe), { outputDir: out, seed: 1 });
		const got = await allTensors(out);
		const plain = await allTensors(join(LORA, "plain"));
		const dora = await allTensors(join(LORA, "dora"));
		const base = await allTensors(BASE);
		let compared = 0;
		const check = (name: string, want: Uint8Array) => {
			const u = maxUlps(got.get(name)!, want, 2);
			assert.ok(u <= 1, `${name}: ${u} ulps`);
			compared++;
		};
		for (const layer of [0, 1]) {
			for (const p of ["q_proj", "k_proj", "v_proj", "o_proj"]) check(`model.layers.${layer}.self_attn.${p}.weight`, plain.get(`model.layers.${layer}.self_attn.${p}.weight`)!);
			for (const p of ["gate_proj", "up_proj", "down_proj"]) {
				const dense = `model.layers.${layer}.mlp.${p}.weight`;
				check(`model.layers.${layer}.block_sparse_moe.experts.0.${MIXTRAL_NAME[p]}.weight`, plain.get(dense)!);
				check(`model.layers.${layer}.block_sparse_moe.experts.1.${MIXTRAL_NAME[p]}.weight`, dora.get(dense) ?? base.get(dense)!);
			}
			assert.ok(Buffer.from(got.get(`model.layers.${layer}.input_layernorm.weight`)!).equals(base.get(`model.layers.${layer}.input_layernorm.weight`)!));
		}
		assert.equal(compared, 20);
		assert.ok(Buffer.from(got.get("model.embed_tokens.weight")!).equals(base.get("model.embed_tokens.weight")!));
		// The lock names each adapter with its files' sha256.
		const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8")) as { sources: { role: string; ref: string; files: { path: string; sha256: string }[] }[] };
		const roles = lock.sources.map((s) => s.role);
		assert.deepEqual(roles, ["base", "base lora", "expert 0", "expert 0 lora", "expert 1", "expert 1 lora"]);
		const doraLock = lock.sources.find((s) => s.role === "expert 1 lora")!;
		assert.deepEqual(doraLock.files.map((f) => f.path), ["adapter_config.json", "adapter_model.safetensors"]);
		assert.match(doraLock.files[1].sha256, /^[0-9a-f]{64}$/);
		assert.equal(result.numExperts, 2);
	});

	it("a shared expert with a LoRA (Qwen MoE, two shared experts stacked: the LoRA'd down_proj columns beside the other's)", async () => {
		const dir = await tempDir("moe-merge-recipe-lora-shared-");
		const recipe = join(dir, "recipe.yml");
		await writeFile(recipe, [`base_model: ${BASE}`, "gate_mode: random", "architecture: qwen", "dtype: bfloat16", "experts:", `  - source_model: ${BASE}`, `  - source_model: ${BASE}+${DORA}`, "shared_experts:", `  - source_model: ${BASE}+${PLAIN}`, `  - source_model: ${BASE}`, ""].join("\n"));
		const out = join(dir, "out");
		await runMerge(await loadRecipe(recipe), { outputDir: out, seed: 1 });
		const got = await allTensors(out);
		const plain = await allTensors(join(LORA, "plain"));
		const base = await allTensors(BASE);
		const I = 128;
		for (const layer of [0, 1]) {
			const up = got.get(`model.layers.${layer}.mlp.shared_expert.up_proj.weight`)!;
			assert.ok(maxUlps(up.subarray(0, I * 64 * 2), plain.get(`model.layers.${layer}.mlp.up_proj.weight`)!, 2) <= 1);
			assert.ok(Buffer.from(up.subarray(I * 64 * 2)).equals(base.get(`model.layers.${layer}.mlp.up_proj.weight`)!));
			// down_proj [H, 2I]: each row is the LoRA'd expert's I columns, then the plain base's.
			const down = got.get(`model.layers.${layer}.mlp.shared_expert.down_proj.weight`)!;
			const want = plain.get(`model.layers.${layer}.mlp.down_proj.weight`)!;
			const baseDown = base.get(`model.layers.${layer}.mlp.down_proj.weight`)!;
			for (let h = 0; h < 64; h++) {
				assert.ok(maxUlps(down.subarray(h * 2 * I * 2, (h * 2 * I + I) * 2), want.subarray(h * I * 2, (h + 1) * I * 2), 2) <= 1, `row ${h}`);
				assert.ok(Buffer.from(down.subarray((h * 2 * I + I) * 2, (h + 1) * 2 * I * 2)).equals(baseDown.subarray(h * I * 2, (h + 1) * I * 2)));
			}
		}
	});

	it("the long form {model, lora}, and the gates' forward pass sees the base's LoRA (hidden gates equal those of the LoRA applied beforehand)", async () => {
		const dir = await tempDir("moe-merge-recipe-lora-gates-");
		const llamaBase = join(FIXTURES, "models", "llama-base");
		const adapter = join(LORA, "llama-base-attention", "adapter");
		const experts = [{ model: join(FIXTURES, "models", "llama-expert-a"), prompts: ["def f(x):", "import os"] }, { model: join(FIXTURES, "models", "llama-expert-b"), prompts: ["Once upon a time", "The cat"] }];
		// The adapted base written in float32, so that the forward pass reads exactly the values the streamed LoRA gives.
		const applied = join(dir, "applied");
		await applyLora({ model: llamaBase, adapters: [adapter], outputDir: applied, dtype: "F32" });
		const withLora = await writeRecipe(dir, { base: "placeholder", experts, gateMode: "hidden", dtype: "bfloat16", name: "with-lora.yml" });
		const text = (await readFile(withLora, "utf8")).replace("base_model: placeholder", `base_model: {model: ${llamaBase}, lora: ${adapter}}`);
		await writeFile(withLora, text);
		const materialised = await writeRecipe(dir, { base: applied, experts, gateMode: "hidden", dtype: "bfloat16", name: "materialised.yml" });
		const plainBase = await writeRecipe(dir, { base: llamaBase, experts, gateMode: "hidden", dtype: "bfloat16", name: "plain.yml" });
		await runMerge(await loadRecipe(withLora), { outputDir: join(dir, "a"), seed: 1 });
		await runMerge(await loadRecipe(materialised), { outputDir: join(dir, "b"), seed: 1 });
		await runMerge(await loadRecipe(plainBase), { outputDir: join(dir, "c"), seed: 1 });
		const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => ModelWeights.open(join(dir, n))));
		try {
			for (const layer of [0, 1]) {
				const router = `model.layers.${layer}.block_sparse_moe.gate.weight`;
				assert.ok(Buffer.from(await tensorBytes(a, router)).equals(await tensorBytes(b, router)), `${router}: same routers as with the LoRA applied beforehand`);
				if (layer === 1) assert.ok(!Buffer.from(await tensorBytes(a, router)).equals(await tensorBytes(c, router)), "the LoRA changes layer 1's hidden states");
				const q = `model.layers.${layer}.self_attn.q_proj.weight`;
				assert.ok(maxUlps(await tensorBytes(a, q), (await allTensors(join(LORA, "llama-base-attention"))).get(q)!, dtypeBytes("BF16")) <= 1);
			}
		} finally {
			await Promise.all([a, b, c].map((w) => w.close()));
		}
	});
});
