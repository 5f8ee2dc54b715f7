/**
 * A fifth output architecture is one description plus one registry entry: a test-only "Toy MoE" (Mixtral's
 * maths, its own model_type, config keys and tensor names in both layouts, its own sparse-layer and
 * router rules), registered here and nowhere else, is chosen from a recipe, planned, merged, verified and
 * run by the routing report. Its routing equals a Mixtral merge of the same recipe, so the report really
 * ran the toy's names and rules.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { expertTensor } from "../../src/architectures/expert-tensors.js";
import { llamaLikeAttentionConfig } from "../../src/architectures/llama-like-config.js";
import { denseMlpName, routerTrainingConfig } from "../../src/architectures/moe-config-parts.js";
import type { OutputArchitecture } from "../../src/architectures/output-architecture.js";
import { ARCHITECTURES, architectureByModelType, registerArchitecture } from "../../src/architectures/registry.js";
import { readDenseConfig } from "../../src/inputs/dense-config.js";
import { closeMergePlan, planMerge } from "../../src/merge/plan-merge.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { ReferenceLinearBackend } from "../../src/model/index.js";
import { describeMoe } from "../../src/model/moe-spec.js";
import { loadRecipe, matchArchitectures } from "../../src/recipe/index.js";
import { runReport } from "../../src/report/index.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { verifyCheckpoint } from "../../src/verify/index.js";
import { FIXTURES, tempDir, writeRecipe } from "../merge/helpers.js";

const PROJECTION = { gate_proj: "w_in", up_proj: "w_lin", down_proj: "w_out" } as const;
const at = (layer: number, rest: string) => `model.layers.${layer}.${rest}`;

const toy: OutputArchitecture = {
	name: "toy_moe",
	displayName: "Toy MoE",
	modelType: "toymoe",
	attention: "llama",
	inputModelTypes: ["llama", "mistral"],
	sharedExperts: { min: 0, max: 0 },
	biases: { carried: [] },
	expertTensorName: (l, e, p) => at(l, `toy_ffn.expert_${e}.${PROJECTION[p]}.weight`),
	fusedExpertNames: (l) => ({ gateUp: at(l, "toy_ffn.stacked_in"), down: at(l, "toy_ffn.stacked_out") }),
	routerName: (l, layout) => at(l, layout === "fused" ? "toy_ffn.stacked_router.weight" : "toy_ffn.router.weight"),
	denseMlpName,
	router: { scoring: "softmax", normTopK: (config) => config.toy_renormalise === true },
	config: {
		experts: ["toy_experts"],
		expertIntermediate: "toy_expert_size",
		sparseLayer: (config, l) => l >= (typeof config.toy_first_sparse === "number" ? config.toy_first_sparse : 0),
	},
	deriveConfig({ base, numExperts, expertsPerToken, dtype, training }) {
		return {
			architectures: ["ToyMoeForCausalLM"],
			model_type: "toymoe",
			...llamaLikeAttentionConfig(base),
			toy_experts: numExperts,
			toy_expert_size: base.intermediateSize,
			toy_first_sparse: 0,
			toy_renormalise: true,
			num_experts_per_tok: expertsPerToken,
			...routerTrainingConfig(training),
			torch_dtype: dtype,
		};
	},
};

const MODELS = join(FIXTURES, "models");
const [BASE, A, B] = ["llama-base", "llama-expert-a", "llama-expert-b"].map((m) => join(MODELS, m));

async function recipeFor(dir: string, architecture: string): Promise<string> {
	return writeRecipe(dir, {
		base: BASE,
		gateMode: "hidden",
		dtype: "bfloat16",
		extra: `architecture: ${architecture}`,
		name: `${architecture}.yml`,
		experts: [
			{ model: A, prompts: ["def fibonacci(n):", "Write a JavaScript function"] },
			{ model: B, prompts: ["Once upon a time", "Write a poem about the sea"] },
			{ model: BASE, prompts: ["What is the integral of x^2?"] },
		],
	});
}

async function tensorNames(dir: string): Promise<string[]> {
	const weights = await ModelWeights.open(dir);
	try {
		return [...weights.names()].sort();
	} finally {
		await weights.close();
	}
}

describe("a fifth architecture registered by a test", () => {
	let unregister: () => void;
	before(() => {
		unregister = registerArchitecture(toy);
	});
	after(() => unregister());

	it("is in the one list, found by schema name, display-name prefix and model_type; a clash is refused", () => {
		assert.equal(ARCHITECTURES.at(-1), toy);
		assert.equal(architectureByModelType("toymoe"), toy);
		assert.deepEqual(matchArchitectures("toy"), ["toy_moe"]);
		assert.deepEqual(matchArchitectures("toy_moe"), ["toy_moe"]);
		assert.throws(() => registerArchitecture({ ...toy, name: "other" }), /model_type toymoe/);
	});

	it("reads its own config keys, sparse-layer rule and router rule", async () => {
		const config = { ...toy.deriveConfig({ base: await readDenseConfig(BASE), numExperts: 3, expertsPerToken: 2, sharedExperts: 0, dtype: "bfloat16" }), toy_first_sparse: 1 };
		const spec = describeMoe(config, "config.json");
		assert.equal(spec.arch, toy);
		assert.equal(spec.experts, 3);
		assert.deepEqual(spec.sparse, [false, true]);
		assert.equal(spec.normTopK, true);
		assert.equal(describeMoe({ ...config, toy_renormalise: false }, "config.json").normTopK, false);
	});

	it("places an expert's projections in both layouts", () => {
		const sizes = { intermediate: 64, hidden: 32 };
		assert.deepEqual(expertTensor(toy, "per-expert", 1, 2, "up_proj", sizes), { name: "model.layers.1.toy_ffn.expert_2.w_lin.weight" });
		assert.deepEqual(expertTensor(toy, "fused", 1, 2, "up_proj", sizes), { name: "model.layers.1.toy_ffn.stacked_in", fused: { expert: 2, firstRow: 64, rows: 64 } });
		assert.deepEqual(expertTensor(toy, "fused", 1, 2, "down_proj", sizes), { name: "model.layers.1.toy_ffn.stacked_out", fused: { expert: 2, firstRow: 0, rows: 32 } });
	});

	for (const layout of ["per-expert", "fused"] as const) {
		it(`is planned, merged, verified and reported (${layout}), routing exactly like Mixtral`, async () => {
			const dir = await tempDir();
			const recipe = await loadRecipe(await recipeFor(dir, "toy"));
			assert.deepEqual(recipe.architectureCandidates, ["toy_moe"]);

			const plan = await planMerge(recipe, { layout, seed: 5, threads: 1 });
			try {
				assert.equal(plan.architecture, toy);
				const planned = new Set(plan.tensors.map((t) => t.name));
				assert.ok(planned.has(layout === "fused" ? "model.layers.1.toy_ffn.stacked_in" : "model.layers.1.toy_ffn.expert_2.w_out.weight"));
			} finally {
				await closeMergePlan(plan);
			}

			const outputs: Record<string, string> = {};
			for (const architecture of ["toy", "mixtral"]) {
				outputs[architecture] = join(dir, `out-${architecture}`);
				await runMerge(await loadRecipe(await recipeFor(dir, architecture)), { outputDir: outputs[architecture]!, layout, seed: 5, threads: 1 });
			}
			const out = outputs.toy!;
			const config = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as Record<string, unknown>;
			assert.equal(config.model_type, "toymoe");
			assert.equal(config.toy_experts, 3);
			const names = await tensorNames(out);
			const expected = layout === "fused"
				? ["model.layers.0.toy_ffn.stacked_in", "model.layers.0.toy_ffn.stacked_out", "model.layers.0.toy_ffn.stacked_router.weight"]
				: ["model.layers.0.toy_ffn.router.weight", ...[0, 1, 2].flatMap((e) => ["w_in", "w_lin", "w_out"].map((w) => `model.layers.0.toy_ffn.expert_${e}.${w}.weight`))];
			for (const name of expected) assert.ok(names.includes(name), name);
			assert.ok(!names.some((n) => n.includes("block_sparse_moe") || n.includes(".mlp.")));

			const verified = await verifyCheckpoint(out);
			assert.deepEqual(verified.problems, []);
			assert.deepEqual(verified.notes, []);
			assert.ok(verified.hashedFiles! > 0);

			const [toyReport, mixtralReport] = await Promise.all(
				[out, outputs.mixtral!].map((modelDir) => runReport({ modelDir, backend: new ReferenceLinearBackend() }).then((r) => r.report)),
			);
			assert.equal(toyReport.model.model_type, "toymoe");
			assert.deepEqual(toyReport.model.moe_layers, [0, 1]);
			assert.ok(toyReport.prompts.length > 0);
			assert.deepEqual(toyReport.prompts, mixtralReport.prompts);
		});
	}
});
