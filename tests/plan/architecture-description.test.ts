/**
 * The plan reads only the output description: a description with a shared expert and q/k/v biases
 * written as zeros (the shape of Qwen2-MoE, a test description here) gets them without plan changes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { whyNot } from "../../src/architectures/choose-architecture.js";
import { mixtral } from "../../src/architectures/mixtral.js";
import type { OutputArchitecture } from "../../src/architectures/output-architecture.js";
import { normaliseDenseConfig } from "../../src/inputs/dense-config.js";
import { LLAMA_LIKE_NAMES } from "../../src/inputs/input-families.js";
import { type TensorPlanInput, buildTensorPlan } from "../../src/plan/build-tensor-plan.js";
import type { PlannedTensor } from "../../src/plan/tensor-plan.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { FIXTURES } from "../merge/helpers.js";

const withShared: OutputArchitecture = {
	...mixtral,
	displayName: "Test MoE",
	sharedExperts: { min: 1, max: 2 },
	biases: { carried: ["q_proj", "k_proj", "v_proj"], zeros: ["q_proj", "k_proj", "v_proj"] },
	defaults: { expertsPerToken: (shared) => (shared > 0 ? 1 : 2) },
	sharedExpertNames: {
		projection: (l, p) => `model.layers.${l}.mlp.shared_expert.${p}.weight`,
		gate: (l) => `model.layers.${l}.mlp.shared_expert_gate.weight`,
	},
};


const [H, I, L] = [32, 64, 2];

/** Plans the three fixture models (base, a, b) with `withShared`, routed experts a and b, and the given shared experts. */
async function planWithShared(sharedExperts: TensorPlanInput["sharedExperts"]): Promise<Map<string, PlannedTensor>> {
	const dirs = ["llama-base", "llama-expert-a", "llama-expert-b"].map((m) => join(FIXTURES, "models", m));
	const weights = await Promise.all(dirs.map((d) => ModelWeights.open(d)));
	try {
		const tensors = buildTensorPlan({
			architecture: withShared,
			inputNames: LLAMA_LIKE_NAMES,
			layout: "per-expert",
			dtype: "BF16",
			weights: weights.map((w, i) => ({ label: `model ${i}`, weights: w })),
			base: 0,
			experts: [{ source: 1 }, { source: 2 }],
			sharedExperts,
			numLayers: L,
			hiddenSize: H,
			intermediateSize: I,
			attentionRows: { q_proj: 32, k_proj: 16, v_proj: 16, o_proj: 32 },
			routers: [new Float32Array(2 * H), new Float32Array(2 * H)],
		});
		return new Map(tensors.map((t) => [t.name, t]));
	} finally {
		await Promise.all(weights.map((w) => w.close()));
	}
}

describe("a description with a shared expert", () => {
	it("is chosen only with a shared expert that has prompts, unless the gates are random", () => {
		const config = normaliseDenseConfig({ model_type: "llama", hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 100 }, "config.json");
		const input = { inputs: [{ label: "base", config }], sharedExperts: 1, sharedExpertPrompts: false, gatesFromPrompts: true };
		assert.match(whyNot(withShared, input) ?? "", /give the shared experts positive_prompts/);
		assert.equal(whyNot(withShared, { ...input, gatesFromPrompts: false }), null);
		assert.equal(whyNot(withShared, { ...input, sharedExpertPrompts: true }), null);
		assert.match(whyNot(withShared, { ...input, sharedExperts: 0 }) ?? "", /takes 1..2 shared experts, got 0/);
		assert.match(whyNot({ ...withShared, sharedExperts: { min: 0, max: 2 }, sharedExpertNames: { projection: withShared.sharedExpertNames!.projection } }, { ...input, sharedExpertPrompts: true }) ?? "", /no gate, so their prompts would mean nothing/);
	});

	it("gets its shared expert, its gate and zero q/k/v biases in every layer", async () => {
		const gates = [new Float32Array(H).fill(0.5), new Float32Array(H).fill(0.25)];
		const byName = await planWithShared({ experts: [{ source: 2, noiseScale: 0.01 }], gates });
		for (let l = 0; l < L; l++) {
			for (const [site, rows] of [["q_proj", 32], ["k_proj", 16], ["v_proj", 16]] as const) {
				const bias = byName.get(`model.layers.${l}.self_attn.${site}.bias`);
				assert.deepEqual(bias?.shape, [rows]);
				assert.ok(bias?.parts[0].kind === "values" && bias.parts[0].values.every((v) => v === 0));
			}
			assert.equal(byName.has(`model.layers.${l}.self_attn.o_proj.bias`), false);
			const down = byName.get(`model.layers.${l}.mlp.shared_expert.down_proj.weight`);
			assert.deepEqual(down?.shape, [H, I]);
			assert.deepEqual(down?.parts[0], { kind: "copy", source: 2, name: `model.layers.${l}.mlp.down_proj.weight`, scale: undefined, noise: { std: 0.01, key: `noise/shared expert/model.layers.${l}.mlp.down_proj.weight` } });
			const gate = byName.get(`model.layers.${l}.mlp.shared_expert_gate.weight`);
			assert.deepEqual(gate?.shape, [1, H]);
			assert.ok(gate?.parts[0].kind === "values" && gate.parts[0].values === gates[l]);
		}
		// The routed experts are laid out as before.
		assert.ok(byName.has("model.layers.1.block_sparse_moe.experts.1.w2.weight"));
	});

	it("stacks N shared experts into one MLP: gate/up rows, down columns, each with its own residual_scale and noise", async () => {
		const gates = [new Float32Array(H), new Float32Array(H)];
		const byName = await planWithShared({ experts: [{ source: 1 }, { source: 2, residualScale: 0.5, noiseScale: 0.1 }], gates });
		const gate = byName.get("model.layers.1.mlp.shared_expert.gate_proj.weight");
		assert.deepEqual(gate?.shape, [2 * I, H]);
		assert.equal(gate?.concat, undefined);
		assert.deepEqual(gate?.parts.map((p) => p.kind === "copy" && [p.source, p.noise?.key]), [[1, undefined], [2, "noise/shared expert 1/model.layers.1.mlp.gate_proj.weight"]]);
		const down = byName.get("model.layers.1.mlp.shared_expert.down_proj.weight");
		assert.deepEqual(down?.shape, [H, 2 * I]);
		assert.equal(down?.concat, "columns");
		assert.deepEqual(down?.parts.map((p) => p.kind === "copy" && p.scale), [undefined, 0.5]);
	});

	it("Mixtral refuses a bias in the base's weights", async () => {
		const weights = await ModelWeights.open(join(FIXTURES, "hidden", "qwen2-bias"));
		try {
			assert.throws(
				() => buildTensorPlan({ architecture: mixtral, inputNames: LLAMA_LIKE_NAMES, layout: "per-expert", dtype: "BF16", weights: [{ label: "qwen2", weights }], base: 0, experts: [{ source: 0 }], numLayers: 2, hiddenSize: 0, intermediateSize: 0, attentionRows: { q_proj: 0, k_proj: 0, v_proj: 0, o_proj: 0 }, routers: [] }),
				/tensor model\.layers\.0\.self_attn\.[qkv]_proj\.bias is a bias, which Mixtral cannot carry/,
			);
		} finally {
			await weights.close();
		}
	});
});
