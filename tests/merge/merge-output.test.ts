import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readDenseConfig } from "../../src/inputs/dense-config.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { type DType, ModelWeights } from "../../src/safetensors/index.js";
import { caseModels, tempDir, writeRecipe } from "./helpers.js";
import { sameBytes, tensorBytes } from "./tensor-compare.js";

const CASES = ["llama-rope-llama3", "llama-linear-tied", "llama-headdim-f32", "mistral-sliding", "llama-sharded", "llama-native-config"];
const PROJ = { gate_proj: "w1", down_proj: "w2", up_proj: "w3" } as const;
const DTYPES: Record<string, DType> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

/** Merges [expert-a, expert-b, base] of a fixture case and opens the result. */
async function mergeCase(name: string, options: { dtype?: string; layout?: "per-expert" | "fused"; shardSize?: number } = {}) {
	const m = caseModels(name);
	const dir = await tempDir();
	const recipeFile = await writeRecipe(dir, { base: m.base, experts: [{ model: m.a }, { model: m.b }, { model: m.base }], dtype: options.dtype });
	const out = join(dir, "out");
	const result = await runMerge(await loadRecipe(recipeFile), { outputDir: out, seed: 7, layout: options.layout, shardSize: options.shardSize });
	return { m, dir, out, result, sources: [m.a, m.b, m.base] };
}

describe("merging the fixture models into Mixtral", () => {
	for (const name of CASES) {
		it(`${name}: every copied tensor is bit-identical to its source and the config carries the attention over`, async () => {
			const { m, out, result, sources } = await mergeCase(name);
			const base = await readDenseConfig(m.base);
			const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
			assert.equal(config.model_type, "mixtral");
			assert.deepEqual(config.architectures, ["MixtralForCausalLM"]);
			assert.equal(config.num_local_experts, 3);
			assert.equal(config.num_experts_per_tok, 2);
			assert.equal(config.head_dim, base.headDim);
			assert.equal(config.num_key_value_heads, base.numKvHeads);
			assert.equal(config.rope_theta, base.ropeTheta);
			assert.deepEqual(config.rope_scaling, base.ropeScaling);
			assert.equal(config.tie_word_embeddings, base.tieWordEmbeddings);
			assert.equal(config.sliding_window, base.slidingWindow);
			assert.equal(config.torch_dtype, base.dtype);
			assert.deepEqual(
				result.warnings.map((w) => w.replace(/^the base model .* has no tokenizer .*/, "no tokenizer")),
				["no tokenizer", "3 experts is not a power of two; older llama.cpp versions cannot load such a model"],
				"the dense fixtures have no tokenizer files",
			);

			const outW = await ModelWeights.open(out);
			const baseW = await ModelWeights.open(m.base);
			const expertW = await Promise.all(sources.map((s) => ModelWeights.open(s)));
			try {
				const dtype = DTYPES[base.dtype ?? "bfloat16"];
				const expected = new Set<string>();
				for (const t of baseW.names()) {
					const layerMlp = /^model\.layers\.(\d+)\.mlp\.(\w+)\.weight$/.exec(t);
					if (!layerMlp) {
						expected.add(t);
						assert.ok(sameBytes(await tensorBytes(outW, t), await tensorBytes(baseW, t, dtype)), `${t} differs from the base`);
						continue;
					}
					const [, layer, proj] = layerMlp;
					for (let e = 0; e < 3; e++) {
						const outName = `model.layers.${layer}.block_sparse_moe.experts.${e}.${PROJ[proj as keyof typeof PROJ]}.weight`;
						expected.add(outName);
						assert.ok(sameBytes(await tensorBytes(outW, outName), await tensorBytes(expertW[e], t, dtype)), `${outName} differs from ${sources[e]}`);
					}
				}
				for (let l = 0; l < base.numLayers; l++) {
					const router = `model.layers.${l}.block_sparse_moe.gate.weight`;
					expected.add(router);
					assert.deepEqual(outW.get(router).info.shape, [3, base.hiddenSize]);
				}
				assert.deepEqual(outW.names().sort(), [...expected].sort());
				assert.equal(outW.has("lm_head.weight"), !base.tieWordEmbeddings);
			} finally {
				await Promise.all([outW, baseW, ...expertW].map((w) => w.close()));
			}
		});
	}

	it("converts to the recipe's dtype exactly (bf16 -> f32 is exact, f32 -> bf16 rounds like torch)", async () => {
		const up = await mergeCase("llama-rope-llama3", { dtype: "float32" });
		const down = await mergeCase("llama-headdim-f32", { dtype: "bfloat16" });
		for (const [run, dtype] of [[up, "F32"], [down, "BF16"]] as const) {
			const outW = await ModelWeights.open(run.out);
			const baseW = await ModelWeights.open(run.m.base);
			try {
				for (const t of ["model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight", "model.norm.weight"]) {
					assert.equal(outW.get(t).info.dtype, dtype);
					assert.ok(sameBytes(await tensorBytes(outW, t), await tensorBytes(baseW, t, dtype)));
				}
			} finally {
				await outW.close();
				await baseW.close();
			}
			assert.equal(JSON.parse(await readFile(join(run.out, "config.json"), "utf8")).torch_dtype, dtype === "F32" ? "float32" : "bfloat16");
		}
	});

	it("writes the fused transformers-5 layout on request: gate_up_proj = [gate; up] per expert, down_proj stacked", async () => {
		const { out, sources } = await mergeCase("mistral-sliding", { layout: "fused" });
		const outW = await ModelWeights.open(out);
		const expertW = await Promise.all(sources.map((s) => ModelWeights.open(s)));
		try {
			const gateUp = await tensorBytes(outW, "model.layers.1.mlp.experts.gate_up_proj");
			const down = await tensorBytes(outW, "model.layers.1.mlp.experts.down_proj");
			assert.deepEqual(outW.get("model.layers.1.mlp.experts.gate_up_proj").info.shape, [3, 256, 64]);
			assert.deepEqual(outW.get("model.layers.1.mlp.experts.down_proj").info.shape, [3, 64, 128]);
			const parts: Uint8Array[] = [];
			const downs: Uint8Array[] = [];
			for (const w of expertW) {
				parts.push(await tensorBytes(w, "model.layers.1.mlp.gate_proj.weight"), await tensorBytes(w, "model.layers.1.mlp.up_proj.weight"));
				downs.push(await tensorBytes(w, "model.layers.1.mlp.down_proj.weight"));
			}
			assert.ok(sameBytes(gateUp, Buffer.concat(parts)));
			assert.ok(sameBytes(down, Buffer.concat(downs)));
			assert.ok(outW.has("model.layers.1.mlp.gate.weight"));
			assert.ok(!outW.names().some((n) => n.includes("block_sparse_moe")));
		} finally {
			await Promise.all([outW, ...expertW].map((w) => w.close()));
		}
	});

	it("shards by --out-shard-size with an index whose total_size is the data size", async () => {
		const { out, result } = await mergeCase("llama-rope-llama3", { shardSize: 200_000 });
		const files = (await readdir(out)).filter((f) => f.endsWith(".safetensors")).sort();
		assert.ok(files.length > 2, `expected several shards, got ${files}`);
		assert.equal(files[0], `model-00001-of-${String(files.length).padStart(5, "0")}.safetensors`);
		const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8"));
		assert.deepEqual([...new Set(Object.values(index.weight_map))].sort(), files);
		const outW = await ModelWeights.open(out);
		try {
			let total = 0;
			for (const name of outW.names()) {
				const { info, file } = outW.get(name);
				total += info.end - info.begin;
				assert.equal(index.weight_map[name], file.path.split("/").at(-1));
			}
			assert.equal(index.metadata.total_size, total);
			assert.equal(outW.names().length, result.tensors);
		} finally {
			await outW.close();
		}
	});
});
