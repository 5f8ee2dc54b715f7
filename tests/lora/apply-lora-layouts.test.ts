import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { ReferenceLinearBackend } from "../../src/model/reference-linear.js";
import { tempDir } from "../merge/helpers.js";
import { LORA, allTensors, maxUlps } from "./helpers.js";

/** The expert tensors of layer L in both layouts: fused rows are the per-expert matrices stacked (gate rows, then up rows). */
function fusedFromPerExpert(t: Map<string, Uint8Array>, layer: number, experts: number): { gateUp: Uint8Array; down: Uint8Array } {
	const p = `model.layers.${layer}.block_sparse_moe.experts`;
	const gateUp = Buffer.concat(Array.from({ length: experts }, (_, e) => [t.get(`${p}.${e}.w1.weight`)!, t.get(`${p}.${e}.w3.weight`)!]).flat());
	const down = Buffer.concat(Array.from({ length: experts }, (_, e) => t.get(`${p}.${e}.w2.weight`)!));
	return { gateUp, down };
}

describe("apply-lora across expert layouts", () => {
	let tmp: string;
	before(async () => {
		tmp = await tempDir("moe-merge-lora-layout-");
	});
	after(async () => rm(tmp, { recursive: true, force: true }));

	it("a transformers-4 Mixtral adapter (per-expert modules, router) on a fused checkpoint gives the same weights", async () => {
		const perExpert = join(tmp, "per-expert");
		const fused = join(tmp, "fused");
		const backend = new ReferenceLinearBackend();
		await applyLora({ model: join(LORA, "mixtral-base"), adapters: [join(LORA, "mixtral", "adapter")], outputDir: perExpert, backend });
		const result = await applyLora({ model: join(LORA, "mixtral-fused-base"), adapters: [join(LORA, "mixtral", "adapter")], outputDir: fused, backend });
		assert.equal(result.editedTensors, 2 * (4 + 2 + 1)); // per layer: q/k/v/o, gate_up and down, router
		const a = await allTensors(perExpert);
		const b = await allTensors(fused);
		for (const layer of [0, 1]) {
			const want = fusedFromPerExpert(a, layer, 4);
			assert.ok(Buffer.from(b.get(`model.layers.${layer}.mlp.experts.gate_up_proj`)!).equals(want.gateUp));
			assert.ok(Buffer.from(b.get(`model.layers.${layer}.mlp.experts.down_proj`)!).equals(want.down));
			assert.ok(Buffer.from(b.get(`model.layers.${layer}.mlp.gate.weight`)!).equals(a.get(`model.layers.${layer}.block_sparse_moe.gate.weight`)!));
		}
	});

	it("a transformers-5 target_parameters adapter (fused gate_up_proj/down_proj) on a per-expert checkpoint equals peft's fused result", async () => {
		const out = join(tmp, "params-per-expert");
		await applyLora({ model: join(LORA, "mixtral-base"), adapters: [join(LORA, "mixtral-fused-params", "adapter")], outputDir: out, backend: new ReferenceLinearBackend() });
		const mine = await allTensors(out);
		const expected = await allTensors(join(LORA, "mixtral-fused-params"));
		for (const layer of [0, 1]) {
			const got = fusedFromPerExpert(mine, layer, 4);
			assert.ok(maxUlps(got.gateUp, expected.get(`model.layers.${layer}.mlp.experts.gate_up_proj`)!, 2) <= 1);
			assert.ok(maxUlps(got.down, expected.get(`model.layers.${layer}.mlp.experts.down_proj`)!, 2) <= 1);
		}
	});
});
