/** The input-name table against real checkpoints of every family (fixtures saved by transformers). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readDenseConfig } from "../../src/inputs/dense-config.js";
import { type BiasSite, INPUT_FAMILIES, LLAMA_LIKE_NAMES, inputFamilyOf } from "../../src/inputs/input-families.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { FIXTURES } from "../merge/helpers.js";

// One checkpoint per family; the expected biases are what transformers built (checked against the files below).
const CASES: [string, string, BiasSite[]][] = [
	["llama", "models/llama-base", []],
	["mistral", "hidden/mistral-sliding4", []],
	["qwen2", "hidden/qwen2-bias", ["q_proj", "k_proj", "v_proj"]],
	["qwen3", "hidden/qwen3-headdim32", []],
];

describe("input families", () => {
	it("cover the four supported model types, in one table", () => {
		assert.deepEqual(INPUT_FAMILIES.map((f) => f.modelType).sort(), CASES.map(([t]) => t).sort());
	});

	for (const [modelType, folder, biases] of CASES) {
		it(`${modelType}: every tensor of ${folder} is named by the table, and its biases are the family's`, async () => {
			const dir = join(FIXTURES, folder);
			const config = await readDenseConfig(dir);
			assert.equal(config.modelType, modelType);
			const family = inputFamilyOf(modelType);
			assert.deepEqual([...config.biases].sort(), [...biases].sort());
			const weights = await ModelWeights.open(dir);
			try {
				const { names } = family;
				const found = new Set<BiasSite>();
				for (const name of weights.names()) {
					const layer = names.layerOf(name);
					if (layer === undefined) assert.ok([names.embed, names.finalNorm, names.lmHead].includes(name), `${name} is outside the layers`);
					else assert.ok(layer < config.numLayers && name.startsWith(names.layer(layer, "")), name);
					assert.equal(names.isEmbedding(name), name === names.embed, name);
					const site = names.biasSite(name);
					if (site) found.add(site);
					assert.equal(names.isMlpTensor(name), layer !== undefined && name.includes(".mlp."), name);
				}
				assert.deepEqual([...found].sort(), [...biases].sort());
				for (let l = 0; l < config.numLayers; l++) {
					for (const p of ["gate_proj", "up_proj", "down_proj"] as const) assert.ok(weights.has(names.mlp(l, p)), names.mlp(l, p));
				}
			} finally {
				await weights.close();
			}
		});
	}

	it("biases from config.json, per family", () => {
		const cases: [string, Record<string, unknown>, BiasSite[]][] = [
			["llama", { attention_bias: true, mlp_bias: true }, ["q_proj", "k_proj", "v_proj", "o_proj", "mlp"]],
			["llama", {}, []],
			["mistral", { attention_bias: true }, []],
			["qwen2", {}, ["q_proj", "k_proj", "v_proj"]],
			["qwen3", { attention_bias: true, mlp_bias: true }, ["q_proj", "k_proj", "v_proj", "o_proj"]],
			["unknown-type", { attention_bias: true }, ["q_proj", "k_proj", "v_proj", "o_proj"]],
		];
		for (const [type, raw, expected] of cases) assert.deepEqual([...inputFamilyOf(type).biases(raw)], expected, `${type} ${JSON.stringify(raw)}`);
	});

	it("bias sites by name", () => {
		const cases: [string, BiasSite | undefined][] = [
			["model.layers.3.self_attn.q_proj.bias", "q_proj"],
			["model.layers.3.self_attn.o_proj.bias", "o_proj"],
			["model.layers.3.mlp.down_proj.bias", "mlp"],
			["model.layers.3.self_attn.q_proj.weight", undefined],
			["model.norm.weight", undefined],
		];
		for (const [name, site] of cases) assert.equal(LLAMA_LIKE_NAMES.biasSite(name), site, name);
	});
});
