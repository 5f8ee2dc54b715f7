/**
 * Qwen MoE, Qwen3 MoE and DeepSeek MoE outputs end to end: what mergekit-moe writes for the same
 * recipe (names, shapes, config), bit-exact copies, N shared experts stacked as one, the shared gate
 * from prompts, training fields, and refusals before any weight is read.
 */
import assert from "node:assert/strict";
import { cp, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ModelWeights, toFloat32 } from "../../src/safetensors/index.js";
import { verifyCheckpoint } from "../../src/verify/index.js";
import { FIXTURES, runCli, tempDir } from "./helpers.js";
import { sameBytes, tensorBytes } from "./tensor-compare.js";

const MODELS = join(FIXTURES, "models");
const MERGEKIT = join(FIXTURES, "mergekit-moe");
const [BASE, A, B] = ["llama-base", "llama-expert-a", "llama-expert-b"].map((m) => join(MODELS, m));
const [H, I, L] = [32, 64, 2];

/** Keys mergekit-moe's config.json has that say nothing about the model (PretrainedConfig boilerplate, its transformers version). */
const BOILERPLATE = new Set(["_name_or_path", "chunk_size_feed_forward", "id2label", "label2id", "is_encoder_decoder", "output_attentions", "output_hidden_states", "problem_type", "return_dict", "transformers_version", "mlp_bias", "pretraining_tp", "attention_bias", "head_dim"]);

async function tensorTable(dir: string): Promise<Record<string, { dtype: string; shape: number[] }>> {
	const weights = await ModelWeights.open(dir);
	try {
		return Object.fromEntries([...weights.names()].sort().map((n) => [n, { dtype: weights.get(n).info.dtype, shape: weights.get(n).info.shape }]));
	} finally {
		await weights.close();
	}
}

async function readTensor(dir: string, name: string): Promise<Float32Array> {
	const weights = await ModelWeights.open(dir);
	try {
		const { info } = weights.get(name);
		return toFloat32(await tensorBytes(weights, name), info.dtype, info.shape.reduce((a, b) => a * b, 1));
	} finally {
		await weights.close();
	}
}

async function merge(recipeFile: string, out: string, extra: string[] = []) {
	const result = await runCli([recipeFile, out, "--random-seed", "3", "--quiet", ...extra]);
	assert.equal(result.code, 0, result.stderr);
	return result;
}

describe("the same recipe as mergekit-moe", () => {
	for (const arch of ["qwen", "deepseek"]) {
		it(`${arch}: the tensor names, dtypes and shapes mergekit-moe wrote, and its config values`, async () => {
			const dir = await tempDir();
			const out = join(dir, "out");
			// A copy with absolute model paths: a merge writes its lock beside the recipe, which must not land in the fixtures.
			await writeFile(join(dir, "recipe.yml"), (await readFile(join(MERGEKIT, `${arch}.yml`), "utf8")).replaceAll("../models", MODELS));
			const { stderr } = await merge(join(dir, "recipe.yml"), out);
			assert.deepEqual(await tensorTable(out), JSON.parse(await readFile(join(MERGEKIT, arch, "tensors.json"), "utf8")));
			const theirs = JSON.parse(await readFile(join(MERGEKIT, arch, "config.json"), "utf8")) as Record<string, unknown>;
			const ours = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as Record<string, unknown>;
			for (const [key, value] of Object.entries(theirs)) {
				if (BOILERPLATE.has(key) || key === "dtype" || key === "rope_parameters") continue;
				// mergekit-moe keeps Qwen's default max_window_layers (28) although the window is off; we write the layer count.
				if (key === "max_window_layers" || key === "layer_types") continue;
				assert.deepEqual(ours[key], value, `config key ${key}`);
			}
			// Where we differ on purpose: the rope in the classic spelling, which transformers 4.57 and DeepSeek's remote code read
			// (mergekit-moe writes transformers 5's rope_parameters only, so they fall back to their own default theta).
			assert.equal(ours.rope_theta, (theirs.rope_parameters as { rope_theta: number }).rope_theta);
			assert.equal(ours.torch_dtype, theirs.dtype);
			if (arch === "deepseek") {
				assert.match(stderr, /load the output with trust_remote_code=True/);
				assert.match(await readFile(join(out, "README.md"), "utf8"), /from_pretrained\(model_id, dtype="auto", trust_remote_code=True\)/);
			}
			const report = await verifyCheckpoint(out);
			assert.deepEqual(report.problems, []);
			assert.deepEqual(report.notes, []);
		});
	}
});

describe("Qwen MoE from Llama models", () => {
	it("copies every tensor bit for bit, writes zero q/k/v biases, and gates the shared expert by its prompts", async () => {
		const dir = await tempDir();
		const code = ["def fibonacci(n):", "for i in range(10):"];
		const story = ["Once upon a time", "The dragon slept"];
		await writeFile(
			join(dir, "recipe.yml"),
			[
				`base_model: ${BASE}`,
				"gate_mode: hidden",
				"architecture: qwen",
				"experts:",
				`  - source_model: ${A}`,
				`    positive_prompts: ${JSON.stringify(code)}`,
				`  - source_model: ${B}`,
				`    positive_prompts: ${JSON.stringify(story)}`,
				`  - source_model: ${BASE}`,
				`    positive_prompts: ${JSON.stringify([...code, ...story])}`,
				`  - source_model: ${A}`,
				`    positive_prompts: ["x = 1"]`,
				"shared_experts:",
				`  - source_model: ${A}`,
				`    positive_prompts: ${JSON.stringify(code)}`,
				`  - source_model: ${B}`,
				`    positive_prompts: ${JSON.stringify(story)}`,
				"    residual_scale: 0.5",
				"",
			].join("\n"),
		);
		// The dry run plans the shared gate's place without computing it.
		const planned = await runCli(["plan", join(dir, "recipe.yml")]);
		assert.equal(planned.code, 0, planned.stderr);
		assert.match(planned.stdout, /expert 0, expert 3, shared expert 0: /);
		assert.match(planned.stdout, /output: Qwen MoE/);
		const out = join(dir, "out");
		await runMerge(await loadRecipe(join(dir, "recipe.yml")), { outputDir: out, seed: 3 });
		const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
		assert.equal(config.architectures[0], "Qwen2MoeForCausalLM");
		assert.equal(config.shared_expert_intermediate_size, 2 * I);
		const output = await ModelWeights.open(out);
		const inputs = await Promise.all([BASE, A, B].map((d) => ModelWeights.open(d)));
		const [base, a, b] = inputs;
		try {
			const sources = [a, b, base, a];
			for (let l = 0; l < L; l++) {
				for (const [e, source] of sources.entries()) {
					for (const p of ["gate_proj", "up_proj", "down_proj"]) {
						const copied = await tensorBytes(output, `model.layers.${l}.mlp.experts.${e}.${p}.weight`);
						assert.ok(sameBytes(copied, await tensorBytes(source, `model.layers.${l}.mlp.${p}.weight`)), `layer ${l} expert ${e} ${p}`);
					}
				}
				for (const name of [...base.names()].filter((n) => n.startsWith(`model.layers.${l}.`) && !n.includes(".mlp."))) {
					assert.ok(sameBytes(await tensorBytes(output, name), await tensorBytes(base, name)), name);
				}
				for (const site of ["q_proj", "k_proj", "v_proj"]) {
					assert.ok((await tensorBytes(output, `model.layers.${l}.self_attn.${site}.bias`)).every((x: number) => x === 0));
				}
				// The shared gate is computed like the router row of expert 2, whose prompts are both shared experts' together.
				const gate = await tensorBytes(output, `model.layers.${l}.mlp.shared_expert_gate.weight`);
				const router = await tensorBytes(output, `model.layers.${l}.mlp.gate.weight`);
				assert.deepEqual(output.get(`model.layers.${l}.mlp.shared_expert_gate.weight`).info.shape, [1, H]);
				assert.ok(sameBytes(gate, router.subarray(2 * H * 2, 3 * H * 2)), `layer ${l}: shared gate = row of the same prompts`);
				// Stacked shared experts: gate/up rows of A then B; down columns of A then B (B's scaled by 0.5).
				const up = await tensorBytes(output, `model.layers.${l}.mlp.shared_expert.up_proj.weight`);
				assert.ok(sameBytes(up.subarray(0, I * H * 2), await tensorBytes(a, `model.layers.${l}.mlp.up_proj.weight`)));
				assert.ok(sameBytes(up.subarray(I * H * 2), await tensorBytes(b, `model.layers.${l}.mlp.up_proj.weight`)));
			}
		} finally {
			await Promise.all([output, ...inputs].map((w) => w.close()));
		}
		assert.deepEqual((await verifyCheckpoint(out)).problems, []);
	});

	it("N shared experts stacked as one compute the sum of the N dense MLPs (each with its residual_scale)", async () => {
		const dir = await tempDir();
		await writeFile(
			join(dir, "recipe.yml"),
			[`base_model: ${BASE}`, "gate_mode: random", "architecture: deepseek", "experts:", `  - source_model: ${A}`, `  - source_model: ${B}`, "shared_experts:", `  - source_model: ${A}`, "    residual_scale: 0.25", `  - source_model: ${B}`, `  - source_model: ${BASE}`, "    residual_scale: -2", ""].join("\n"),
		);
		const out = join(dir, "out");
		await merge(join(dir, "recipe.yml"), out, ["--out-shard-size", "20KB"]);
		assert.equal(JSON.parse(await readFile(join(out, "config.json"), "utf8")).n_shared_experts, 3);
		const x = Float32Array.from({ length: H }, (_, i) => Math.sin(i + 1));
		for (let l = 0; l < L; l++) {
			const mlp = async (dir: string, prefix: string, inner: number, scale = 1) => {
				const [g, u, d] = await Promise.all(["gate_proj", "up_proj", "down_proj"].map((p) => readTensor(dir, `${prefix}.${p}.weight`)));
				const act = new Float64Array(inner);
				for (let i = 0; i < inner; i++) {
					let gi = 0, ui = 0;
					for (let h = 0; h < H; h++) (gi += g[i * H + h] * x[h]), (ui += u[i * H + h] * x[h]);
					act[i] = (gi / (1 + Math.exp(-gi))) * ui;
				}
				return Float64Array.from({ length: H }, (_, h) => {
					let y = 0;
					for (let i = 0; i < inner; i++) y += d[h * inner + i] * act[i];
					return y * scale;
				});
			};
			const stacked = await mlp(out, `model.layers.${l}.mlp.shared_experts`, 3 * I);
			const parts = await Promise.all([mlp(A, `model.layers.${l}.mlp`, I, 0.25), mlp(B, `model.layers.${l}.mlp`, I), mlp(BASE, `model.layers.${l}.mlp`, I, -2)]);
			// residual_scale is applied to bf16 weights and rounded again: a relative error of bf16's 2^-8 at most.
			for (let h = 0; h < H; h++) {
				const sum = parts[0][h] + parts[1][h] + parts[2][h];
				assert.ok(Math.abs(stacked[h] - sum) <= 1e-2 * (1 + Math.abs(sum)), `layer ${l}, row ${h}: ${stacked[h]} vs ${sum}`);
			}
		}
		assert.deepEqual((await verifyCheckpoint(out)).problems, []);
	});
});

describe("DeepSeek MoE in the routing report", () => {
	it("routes like the Mixtral of the same recipe when its shared expert is zeroed (residual_scale 0), and otherwise not", async () => {
		const dir = await tempDir();
		const lines = (arch: string, shared: string[]) =>
			[`base_model: ${BASE}`, "gate_mode: hidden", arch, "experts:", `  - source_model: ${A}`, '    positive_prompts: ["def fibonacci(n):"]', `  - source_model: ${B}`, '    positive_prompts: ["Once upon a time"]', ...shared, ""].join("\n");
		const shared = (scale: number) => ["shared_experts:", `  - source_model: ${BASE}`, `    residual_scale: ${scale}`];
		const recipes = { mixtral: lines("", []), zeroed: lines("architecture: deepseek", shared(0)), shared: lines("architecture: deepseek", shared(1)) };
		const probs: Record<string, number[]> = {};
		for (const [name, text] of Object.entries(recipes)) {
			await writeFile(join(dir, `${name}.yml`), text);
			await merge(join(dir, `${name}.yml`), join(dir, name), ["--report"]);
			const report = JSON.parse(await readFile(join(dir, name, "report.json"), "utf8")) as { prompts: { layers: { router_probs: number[][] }[] }[] };
			probs[name] = report.prompts.flatMap((p) => p.layers.flatMap((l) => l.router_probs.flat()));
		}
		assert.deepEqual(probs.zeroed, probs.mixtral);
		const diff = Math.max(...probs.shared.map((v, i) => Math.abs(v - probs.mixtral[i])));
		assert.ok(diff > 1e-3, `the shared expert changes the routing of layer 1 (max difference ${diff})`);
		const down = await readTensor(join(dir, "zeroed"), "model.layers.0.mlp.shared_experts.down_proj.weight");
		assert.ok(down.every((v) => v === 0), "residual_scale 0 zeroes down_proj (mergekit-moe multiplies by it)");
	});
});

describe("Qwen3 MoE from Qwen3 models", () => {
	it("keeps the q/k norms and head_dim, and verify finds it whole", async () => {
		const dir = await tempDir();
		const base = join(dir, "qwen3");
		await mkdir(base);
		await cp(join(FIXTURES, "hidden", "qwen3-headdim32"), base, { recursive: true });
		for (const f of await readdir(join(FIXTURES, "tokenizers", "qwen3"))) await cp(join(FIXTURES, "tokenizers", "qwen3", f), join(base, f));
		await writeFile(join(dir, "recipe.yml"), [`base_model: ./qwen3`, "gate_mode: random", "experts:", "  - source_model: ./qwen3", "  - source_model: ./qwen3", ""].join("\n"));
		const out = join(dir, "out");
		const { stdout } = await runCli(["plan", join(dir, "recipe.yml"), "--i-understand-this-is-not-useful-without-training"]);
		assert.match(stdout, /output: Qwen3 MoE .*\n {2}because the first of Mixtral, DeepSeek MoE, Qwen MoE, Qwen3 MoE that can express qwen3 inputs/);
		assert.match(stdout, /not Mixtral: input model_type "qwen3" is not supported/);
		await merge(join(dir, "recipe.yml"), out, ["--i-understand-this-is-not-useful-without-training", "--layout", "fused"]);
		const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
		assert.equal(config.model_type, "qwen3_moe");
		assert.equal(config.head_dim, 32);
		const table = await tensorTable(out);
		assert.deepEqual(table["model.layers.1.self_attn.q_norm.weight"].shape, [32]);
		assert.deepEqual(table["model.layers.1.mlp.experts.gate_up_proj"].shape, [2, 2 * 128, 64]);
		assert.deepEqual((await verifyCheckpoint(out)).problems, []);
	});
});

describe("training fields and refusals", () => {
	it("router training fields come from the recipe, and the command line wins", async () => {
		const dir = await tempDir();
		const recipe = join(dir, "recipe.yml");
		await writeFile(recipe, [`base_model: ${BASE}`, "gate_mode: random", "output_router_logits: true", "router_aux_loss_coef: 0.02", "experts:", `  - source_model: ${A}`, `  - source_model: ${B}`, ""].join("\n"));
		await merge(recipe, join(dir, "a"));
		const a = JSON.parse(await readFile(join(dir, "a", "config.json"), "utf8"));
		assert.deepEqual([a.model_type, a.output_router_logits, a.router_aux_loss_coef], ["mixtral", true, 0.02]);
		await merge(recipe, join(dir, "b"), ["--no-output-router-logits", "--router-aux-loss-coef", "0.05"]);
		const b = JSON.parse(await readFile(join(dir, "b", "config.json"), "utf8"));
		assert.deepEqual([b.output_router_logits, b.router_aux_loss_coef], [false, 0.05]);
	});

	const refusals: [string, string[], RegExp][] = [
		["Qwen3 MoE from Llama", ["architecture: qwen3"], /no output architecture can express this recipe as Qwen3 MoE:\n {2}Qwen3 MoE: input model_type "llama" is not supported/],
		["a shared expert for Mixtral", ["architecture: mixtral", "shared_experts:", `  - source_model: ${A}`, "    positive_prompts: [\"x\"]"], /Mixtral: it has no shared experts/],
		["a Qwen MoE shared expert without prompts and hidden gates", ["architecture: qwen", "shared_experts:", `  - source_model: ${A}`], /Qwen MoE: its shared expert gate is built from prompts/],
	];
	for (const [what, lines, message] of refusals) {
		it(`refuses ${what} with one clear error before reading a weight`, async () => {
			const dir = await tempDir();
			const recipe = join(dir, "recipe.yml");
			await writeFile(recipe, [`base_model: ${BASE}`, "gate_mode: hidden", ...lines, "experts:", `  - source_model: ${A}`, `    positive_prompts: ["a"]`, `  - source_model: ${B}`, `    positive_prompts: ["b"]`, ""].join("\n"));
			const result = await runCli([recipe, join(dir, "out")]);
			assert.equal(result.code, 1, result.stderr);
			assert.match(result.stderr, message);
			assert.deepEqual((await readdir(dir)).sort(), ["recipe.yml"]);
		});
	}
});
