/**
 * An MoE as a recipe source (`expert: N`): experts added to, dropped from and reordered in a Mixtral the
 * test builds (both expert layouts), every kept tensor and router row bit-identical to the source MoE,
 * outputs that pass verify; an added expert wins its own prompts while the kept ones route as before;
 * a one-expert MoE computes what the dense model of that expert computes; bad indices and mixed
 * families refused with the recipe's line, nothing written.
 */
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { mixtral } from "../../src/architectures/mixtral.js";
import { MoeMergeError } from "../../src/errors.js";
import { runExtract } from "../../src/extract/run-extract.js";
import { LLAMA_LIKE_NAMES } from "../../src/inputs/input-families.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { computePromptStates, ReferenceLinearBackend } from "../../src/model/index.js";
import { runMoeForward } from "../../src/model/moe-forward.js";
import { readMoeSpec } from "../../src/model/moe-spec.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { GateTokenizer } from "../../src/tokenize/index.js";
import { verifyCheckpoint } from "../../src/verify/index.js";
import { LLAMA_A, LLAMA_B, LLAMA_BASE, QWEN2, allTensors, mergeMoe } from "../extract/helpers.js";
import { qwen2Moe } from "../../src/architectures/qwen2-moe.js";
import { FIXTURES, runCli, tempDir } from "../merge/helpers.js";
import { sameBytes, tensorBytes } from "../merge/tensor-compare.js";

const NEW_PROMPTS = ["The capital of France is Paris", "Berlin is a city in Germany"];
const OTHER_PROMPTS = ["def f(x): return x", "1 + 1 = 2"];

/** Writes `lines` as a recipe and merges it into `out`. */
async function edit(dir: string, name: string, lines: string[], out: string): Promise<void> {
	const file = join(dir, name);
	await writeFile(file, `${lines.join("\n")}\n`);
	await runMerge(await loadRecipe(file), { outputDir: out, seed: 5 });
}

/** Row `row` of tensor `name` as raw bytes. */
async function rowBytes(dir: string, name: string, row: number): Promise<Uint8Array> {
	const weights = await ModelWeights.open(dir);
	try {
		const all = await tensorBytes(weights, name);
		const bytes = all.length / weights.get(name).info.shape[0]!;
		return all.subarray(row * bytes, (row + 1) * bytes);
	} finally {
		await weights.close();
	}
}

/** Expert e's projection p of layer l, as bytes, in whichever layout `dir` has. */
async function expertBytes(dir: string, l: number, e: number, p: "gate_proj" | "up_proj" | "down_proj", fused: boolean): Promise<Uint8Array> {
	if (!fused) return (await allTensors(dir)).get(mixtral.expertTensorName(l, e, p))!.bytes;
	const names = mixtral.fusedExpertNames!(l);
	if (p === "down_proj") return rowBytes(dir, names.down, e);
	const slab = await rowBytes(dir, names.gateUp, e);
	return p === "gate_proj" ? slab.subarray(0, slab.length / 2) : slab.subarray(slab.length / 2);
}

for (const layout of ["per-expert", "fused"] as const) {
	const dir = await tempDir();
	const moe = join(dir, "moe");
	describe(`editing a Mixtral (${layout} source)`, () => {
		before(async () => {
			await mergeMoe(dir, moe, { architecture: "mixtral", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_B], layout });
		});

		it("add a dense expert and swap the kept two: kept tensors and router rows bit-identical, new expert's MLP the dense model's; verify passes; the plan, card and lock say where each came from", async () => {
			const out = join(dir, "added");
			await edit(dir, "add.yml", [
				`base_model: ${moe}`,
				"gate_mode: hidden",
				"experts:",
				`  - source_model: ${moe}`,
				"    expert: 1",
				`  - source_model: ${moe}`,
				"    expert: 0",
				`  - source_model: ${LLAMA_BASE}`,
				`    positive_prompts: ${JSON.stringify(NEW_PROMPTS)}`,
				`    negative_prompts: ${JSON.stringify(OTHER_PROMPTS)}`,
			], out);
			const ours = await allTensors(out);
			const source = await allTensors(moe);
			const dense = await allTensors(LLAMA_BASE);
			// Everything outside the MoE blocks is the source MoE's, byte for byte.
			for (const [name, t] of source) {
				if (name.includes(".block_sparse_moe.") || name.includes(".mlp.")) continue;
				assert.ok(sameBytes(ours.get(name)!.bytes, t.bytes), `${name} differs from the source MoE`);
			}
			const fused = layout === "fused";
			for (let l = 0; l < 2; l++) {
				for (const p of ["gate_proj", "up_proj", "down_proj"] as const) {
					const theirs = ours.get(mixtral.expertTensorName(l, 0, p))!.bytes;
					assert.ok(sameBytes(theirs, await expertBytes(moe, l, 1, p, fused)), `layer ${l} expert 0 ${p} is not source expert 1`);
					assert.ok(sameBytes(ours.get(mixtral.expertTensorName(l, 1, p))!.bytes, await expertBytes(moe, l, 0, p, fused)), `layer ${l} expert 1 ${p} is not source expert 0`);
					assert.ok(sameBytes(ours.get(mixtral.expertTensorName(l, 2, p))!.bytes, dense.get(LLAMA_LIKE_NAMES.mlp(l, p))!.bytes), `layer ${l} expert 2 ${p} is not the dense model's`);
				}
				const router = mixtral.routerName(l, "per-expert");
				const sourceRouter = mixtral.routerName(l, layout);
				assert.deepEqual(ours.get(router)!.shape, [3, 32]);
				assert.ok(sameBytes(await rowBytes(out, router, 0), await rowBytes(moe, sourceRouter, 1)), `layer ${l}: router row 0 is not source row 1`);
				assert.ok(sameBytes(await rowBytes(out, router, 1), await rowBytes(moe, sourceRouter, 0)), `layer ${l}: router row 1 is not source row 0`);
			}
			const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
			assert.equal(config.num_local_experts, 3);
			assert.deepEqual((await verifyCheckpoint(out)).problems, []);
			const card = await readFile(join(out, "README.md"), "utf8");
			assert.match(card, /\| expert 0 \(its expert 1, router row kept\) \|/);
			assert.match(card, /\| expert 1 \(its expert 0, router row kept\) \|/);
			const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8"));
			const hashes = new Set(lock.sources.filter((s: { ref: string }) => s.ref === moe).flatMap((s: { files: { path: string; sha256: string }[] }) => s.files.filter((f) => f.path === "model.safetensors").map((f) => f.sha256)));
			assert.equal(hashes.size, 1, "the source MoE's weights are locked with one sha256");

			const plan = await runCli(["plan", join(dir, "add.yml"), "--json"]);
			assert.equal(plan.code, 0, plan.stderr);
			const experts = JSON.parse(plan.stdout).experts as { moeExpert?: number; router: string }[];
			assert.deepEqual(experts.map((e) => [e.moeExpert, e.router]), [[1, "kept"], [0, "kept"], [undefined, "new"]]);
		});

		it("routing: the added expert wins its own prompts in every layer; at layer 0 the kept experts' logits are the source's (same ranking on every token)", async () => {
			const out = join(dir, "added");
			const tokenizer = await GateTokenizer.load(moe);
			const prompts = [...NEW_PROMPTS, ...OTHER_PROMPTS].map((p) => tokenizer.encode(p));
			const backend = new ReferenceLinearBackend();
			const after = await runMoeForward(out, await readMoeSpec(out), prompts, { backend });
			const before = await runMoeForward(moe, await readMoeSpec(moe), prompts, { backend });
			NEW_PROMPTS.forEach((_, p) => {
				for (const layer of after[p]!.layers) assert.equal(layer.experts.at(-1)![0], 2, `new prompt ${p}, layer ${layer.layer}: top expert ${layer.experts.at(-1)![0]}`);
			});
			prompts.forEach((_, p) => {
				const ours = after[p]!.layers[0]!.routerProbs;
				const theirs = before[p]!.layers[0]!.routerProbs;
				ours.forEach((probs, t) => {
					// Output experts 0, 1 are source experts 1, 0: softmax ratios of equal logits are equal.
					const ratio = Math.log(probs[0]! / probs[1]!);
					const want = Math.log(theirs[t]![1]! / theirs[t]![0]!);
					assert.ok(Math.abs(ratio - want) < 1e-4, `prompt ${p} token ${t}: kept logit gap ${ratio} vs ${want}`);
				});
			});
			OTHER_PROMPTS.forEach((_, i) => {
				const p = NEW_PROMPTS.length + i;
				assert.notEqual(after[p]!.layers[0]!.experts.at(-1)![0], 2, `other prompt ${i} goes to the new expert at layer 0`);
			});
		});

		it("drop to one expert: the MoE computes what that expert's dense model computes (logits), and the output is verified", async () => {
			const out = join(dir, "dropped");
			await edit(dir, "drop.yml", [`base_model: ${moe}`, "experts_per_token: 1", "experts:", `  - source_model: ${moe}`, "    expert: 1"], out);
			assert.deepEqual((await verifyCheckpoint(out)).problems, []);
			const dense = join(dir, "expert-1");
			await runExtract({ label: moe, dir: moe }, { expert: 1, outputDir: dense });
			const tokenizer = await GateTokenizer.load(moe);
			const prompts = [...NEW_PROMPTS, ...OTHER_PROMPTS].map((p) => tokenizer.encode(p));
			const backend = new ReferenceLinearBackend();
			const moeLogits = await runMoeForward(out, await readMoeSpec(out), prompts, { backend });
			const denseLogits = (await computePromptStates(dense, { prompts }, { backend, logits: true })).logits!;
			prompts.forEach((_, p) => {
				const a = moeLogits[p]!.nextTokenLogits;
				const b = denseLogits[p]!;
				let worst = 0;
				for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
				assert.ok(worst < 1e-4, `prompt ${p}: logits differ by up to ${worst}`);
			});
		});
	});
}

const qwenDir = await tempDir();
describe("editing a Qwen MoE: no shared_experts listed keeps the base's shared expert and its gate", () => {
	const moe = join(qwenDir, "moe");
	before(() => mergeMoe(qwenDir, moe, { architecture: "qwen", base: QWEN2, experts: [QWEN2, QWEN2], shared: [QWEN2] }));

	it("shared expert, gate and kept router rows bit-identical; verify passes", async () => {
		const out = join(qwenDir, "edited");
		await edit(qwenDir, "edit.yml", [`base_model: ${moe}`, "gate_mode: random", "experts:", `  - source_model: ${moe}`, "    expert: 1", `  - source_model: ${moe}`, "    expert: 0", `  - source_model: ${QWEN2}`], out);
		const ours = await allTensors(out);
		const source = await allTensors(moe);
		for (const [name, t] of source) {
			if (name.includes(".mlp.experts.") || name.endsWith(".mlp.gate.weight")) continue;
			assert.ok(sameBytes(ours.get(name)!.bytes, t.bytes), `${name} differs from the source MoE`);
		}
		for (let l = 0; l < 2; l++) {
			assert.ok(ours.has(qwen2Moe.sharedExpertNames!.gate!(l)));
			const router = qwen2Moe.routerName(l, "per-expert");
			assert.ok(sameBytes(await rowBytes(out, router, 0), await rowBytes(moe, router, 1)));
			assert.ok(sameBytes(await rowBytes(out, router, 1), await rowBytes(moe, router, 0)));
		}
		const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
		assert.equal(config.shared_expert_intermediate_size, JSON.parse(await readFile(join(moe, "config.json"), "utf8")).shared_expert_intermediate_size);
		assert.deepEqual((await verifyCheckpoint(out)).problems.filter((p) => !/tokenizer/.test(p.message)), []);
	});
});

const refusals = await tempDir();
describe("MoE sources refused before anything is written, at the recipe's line", () => {
	const dir = refusals;
	const moe = join(dir, "moe");
	before(async () => {
		await mergeMoe(dir, moe, { architecture: "mixtral", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_B] });
	});

	const refused = async (name: string, lines: string[], message: RegExp) => {
		const file = join(dir, name);
		await writeFile(file, `${lines.join("\n")}\n`);
		const out = join(dir, `${name}-out`);
		const run = await runCli([file, out]);
		assert.equal(run.code, 1, run.stderr);
		assert.match(run.stderr, message);
		await assert.rejects(access(out), "nothing written");
	};

	it("an expert index out of range, at `expert:`", async () => {
		await refused("range.yml", [`base_model: ${moe}`, "gate_mode: random", "experts:", `  - source_model: ${moe}`, "    expert: 0", `  - source_model: ${moe}`, "    expert: 2"], /range\.yml:7:13: .*there is no expert 2; this Mixtral has experts 0 to 1/);
	});

	it("expert: on a dense model", async () => {
		await refused("dense.yml", [`base_model: ${LLAMA_BASE}`, "gate_mode: random", "experts:", `  - source_model: ${LLAMA_A}`, "    expert: 1", `  - source_model: ${LLAMA_B}`], /dense\.yml:5:13: .*expert: 1 picks a routed expert of an MoE, but this is a dense model/);
	});

	it("an MoE as an expert without expert:", async () => {
		await refused("whole.yml", [`base_model: ${LLAMA_BASE}`, "gate_mode: random", "experts:", `  - source_model: ${moe}`, `  - source_model: ${LLAMA_B}`], /whole\.yml:4:5: .*is a Mixtral with 2 experts, not a dense model: pick one of its experts with `expert: N`/);
	});

	it("two sources of different families (a Qwen2 model beside a Mixtral of Llamas)", async () => {
		await refused("family.yml", [`base_model: ${moe}`, "gate_mode: random", "experts:", `  - source_model: ${moe}`, "    expert: 0", `  - source_model: ${QWEN2}`], /family\.yml:6:5: input models do not have the same shape:\n {2}.*model_type is qwen2, but the base model .* \(read as a dense llama model\) has llama/);
	});

	it("more experts per token than experts (dropping below top-k)", async () => {
		await refused("topk.yml", [`base_model: ${moe}`, "experts_per_token: 2", "experts:", `  - source_model: ${moe}`, "    expert: 0"], /topk\.yml:2:20: experts_per_token: 2 experts per token but only 1 expert/);
	});

	it("an expert from an MoE with prompts needs no exemption; without prompts under gate_mode hidden it is valid (its row is kept)", async () => {
		const file = join(dir, "valid.yml");
		await writeFile(file, [`base_model: ${moe}`, "experts:", `  - source_model: ${moe}`, "    expert: 0", `  - source_model: ${LLAMA_B}`, '    positive_prompts: ["x"]'].join("\n"));
		const recipe = await loadRecipe(file);
		assert.equal(recipe.experts[0]!.expert, 0);
		assert.ok(!(recipe.experts[0] instanceof MoeMergeError));
	});
});

describe("an MoE written by the real mergekit-moe as a source", () => {
	it("drop and reorder the experts of its fused-layout output: every kept expert and router row bit-identical, verify passes", async () => {
		const source = join(FIXTURES, "report", "mixtral-mergekit");
		const dir = await tempDir();
		const out = join(dir, "out");
		await edit(dir, "mk.yml", [`base_model: ${source}`, "gate_mode: random", "experts_per_token: 2", "experts:", `  - {source_model: ${source}, expert: 2}`, `  - {source_model: ${source}, expert: 0}`], out);
		const config = JSON.parse(await readFile(join(source, "config.json"), "utf8")) as { num_hidden_layers: number };
		for (let l = 0; l < config.num_hidden_layers; l++) {
			for (const [e, from] of [[0, 2], [1, 0]] as const) {
				for (const p of ["gate_proj", "up_proj", "down_proj"] as const) assert.ok(sameBytes(await expertBytes(out, l, e, p, false), await expertBytes(source, l, from, p, true)), `layer ${l} expert ${e} ${p}`);
				assert.ok(sameBytes(await rowBytes(out, mixtral.routerName(l, "per-expert"), e), await rowBytes(source, mixtral.routerName(l, "fused"), from)), `layer ${l} router row ${e}`);
			}
		}
		assert.equal((await verifyCheckpoint(out)).ok, true);
	});
	it("combine the experts of two MoEs that share a base (ours and mergekit-moe's): each expert and router row bit-identical to its own source", async () => {
		const mk = join(FIXTURES, "report", "mixtral-mergekit");
		const ours = join(FIXTURES, "report", "mixtral-fused");
		const dir = await tempDir();
		const out = join(dir, "out");
		await edit(dir, "two.yml", [`base_model: ${ours}`, "gate_mode: random", "experts:", `  - {source_model: ${mk}, expert: 1}`, `  - {source_model: ${ours}, expert: 0}`, `  - {source_model: ${mk}, expert: 2}`], out);
		const from = [[mk, 1], [ours, 0], [mk, 2]] as const;
		for (let l = 0; l < 2; l++) {
			for (const [e, [src, n]] of from.entries()) {
				for (const p of ["gate_proj", "up_proj", "down_proj"] as const) assert.ok(sameBytes(await expertBytes(out, l, e, p, false), await expertBytes(src, l, n, p, true)), `layer ${l} expert ${e} ${p}`);
				assert.ok(sameBytes(await rowBytes(out, mixtral.routerName(l, "per-expert"), e), await rowBytes(src, mixtral.routerName(l, "fused"), n)), `layer ${l} router row ${e}`);
			}
		}
		assert.equal((await verifyCheckpoint(out)).ok, true);
	});
});
