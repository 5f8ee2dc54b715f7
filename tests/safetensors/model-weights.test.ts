import assert from "node:assert/strict";
import { copyFile, mkdir, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SafetensorsError } from "../../src/errors.js";
import { ModelWeights, SafetensorsFile, type WeightFiles, selectWeightFiles, toFloat32 } from "../../src/safetensors/index.js";
import { LLAMA_BASE_DIR, LLAMA_BASE_FILE, buildSafetensors, tempDir } from "./helpers.js";

const u8 = (name: string, ...values: number[]) => ({ name, dtype: "U8", shape: [values.length], data: new Uint8Array(values) });

function isSafetensorsError(file: string, cause: RegExp) {
	return (error: unknown) => {
		assert.ok(error instanceof SafetensorsError, `expected SafetensorsError, got ${String(error)}`);
		assert.equal(error.file, file);
		assert.ok(error.message.includes(file), error.message);
		assert.match(error.message, cause);
		return true;
	};
}

/** Two shards holding a,b and c, plus an index that may be edited. */
async function shardedModel(dir: string, weightMap?: Record<string, string>): Promise<void> {
	await writeFile(join(dir, "model-00001-of-00002.safetensors"), buildSafetensors([u8("a", 1, 2), u8("b", 3)]));
	await writeFile(join(dir, "model-00002-of-00002.safetensors"), buildSafetensors([u8("c", 4, 5, 6)]));
	const map = weightMap ?? { a: "model-00001-of-00002.safetensors", b: "model-00001-of-00002.safetensors", c: "model-00002-of-00002.safetensors" };
	await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 6 }, weight_map: map }));
}

describe("the torch-written fixture", () => {
	test("SafetensorsFile reads its header and tensor bytes", async (t) => {
		const file = await SafetensorsFile.open(LLAMA_BASE_FILE);
		t.after(() => file.close());
		assert.equal(file.size, 2087304);
		assert.equal(file.header.dataStart, 8 + 2112);
		assert.deepEqual(file.header.metadata, { format: "pt" });
		assert.equal(file.header.tensors.size, 20);
		const norm = file.header.tensors.get("model.norm.weight")!;
		assert.deepEqual({ dtype: norm.dtype, shape: norm.shape, end: norm.end }, { dtype: "BF16", shape: [32], end: 2087304 });
		const bytes = new Uint8Array(64);
		await file.read(norm, 0, 64, bytes);
		assert.deepEqual([...toFloat32(bytes, "BF16", 4)], [1.1015625, 0.984375, 1.0234375, 0.984375]);
		const embed = file.header.tensors.get("model.embed_tokens.weight")!;
		assert.deepEqual(embed.shape, [32000, 32]);
		await file.read(embed, 0, 8, bytes);
		assert.deepEqual([...toFloat32(bytes, "BF16", 4)], [-0.55078125, -0.69921875, -1.09375, -0.028564453125]);
	});

	test("ModelWeights opens the folder", async (t) => {
		const weights = await ModelWeights.open(LLAMA_BASE_DIR);
		t.after(() => weights.close());
		assert.equal(weights.dir, LLAMA_BASE_DIR);
		assert.equal(weights.names().length, 20);
		assert.ok(weights.has("model.layers.1.mlp.down_proj.weight"));
		assert.equal(weights.get("model.layers.0.self_attn.q_proj.weight").info.shape.join("x"), "32x32");
		assert.throws(() => weights.get("lm_head.weight"), isSafetensorsError(LLAMA_BASE_DIR, /no tensor "lm_head.weight"/));
	});

	test("a read after the file was truncated names the file and the tensor", async (t) => {
		const dir = await tempDir(t);
		const path = join(dir, "model.safetensors");
		await copyFile(LLAMA_BASE_FILE, path);
		const file = await SafetensorsFile.open(path);
		t.after(() => file.close());
		await truncate(path, 2087304 - 10);
		const norm = file.header.tensors.get("model.norm.weight")!;
		await assert.rejects(file.read(norm, 0, 64, new Uint8Array(64)), isSafetensorsError(path, /truncated: tensor "model.norm.weight"/));
	});
});

describe("ModelWeights layouts", () => {
	test("an index and its shards", async (t) => {
		const dir = await tempDir(t);
		await shardedModel(dir);
		const weights = await ModelWeights.open(dir);
		t.after(() => weights.close());
		assert.deepEqual(weights.names(), ["a", "b", "c"]);
		assert.equal(weights.shards().length, 2);
		const { file, info } = weights.get("c");
		assert.equal(file.path, join(dir, "model-00002-of-00002.safetensors"));
		const out = new Uint8Array(3);
		await file.read(info, 0, 3, out);
		assert.deepEqual([...out], [4, 5, 6]);
	});

	test("a lone set of safetensors files without index", async (t) => {
		const dir = await tempDir(t);
		await writeFile(join(dir, "consolidated-2.safetensors"), buildSafetensors([u8("y", 2)]));
		await writeFile(join(dir, "consolidated-1.safetensors"), buildSafetensors([u8("x", 1)]));
		await writeFile(join(dir, "notes.txt"), "not weights");
		const weights = await ModelWeights.open(dir);
		t.after(() => weights.close());
		assert.deepEqual(weights.names(), ["x", "y"]);
	});

	test("model.safetensors wins over other safetensors files", async (t) => {
		const dir = await tempDir(t);
		await writeFile(join(dir, "model.safetensors"), buildSafetensors([u8("w", 1)]));
		await writeFile(join(dir, "adapter_model.safetensors"), buildSafetensors([u8("w", 2)]));
		const weights = await ModelWeights.open(dir);
		t.after(() => weights.close());
		assert.deepEqual(weights.names(), ["w"]);
	});
});

describe("ModelWeights errors", () => {
	test("a shard listed in the index is missing", async (t) => {
		const dir = await tempDir(t);
		await shardedModel(dir, { a: "model-00001-of-00002.safetensors", c: "model-00002-of-00002.safetensors", d: "model-00003-of-00003.safetensors" });
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(join(dir, "model.safetensors.index.json"), /lists shard file "model-00003-of-00003.safetensors" but it is missing/));
	});
	test("a tensor is in another shard than the index says", async (t) => {
		const dir = await tempDir(t);
		await shardedModel(dir, { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors", c: "model-00002-of-00002.safetensors" });
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(join(dir, "model.safetensors.index.json"), /tensor "b" is listed in "model-00002-of-00002.safetensors" but is in "model-00001-of-00002.safetensors"/));
	});
	test("a tensor of the index is in no shard", async (t) => {
		const dir = await tempDir(t);
		await shardedModel(dir, { a: "model-00001-of-00002.safetensors", b: "model-00001-of-00002.safetensors", c: "model-00002-of-00002.safetensors", lm_head: "model-00002-of-00002.safetensors" });
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(join(dir, "model.safetensors.index.json"), /tensor "lm_head" is listed in "model-00002-of-00002.safetensors" but no shard contains it/));
	});
	test("an index that is not JSON, or whose weight_map points outside the folder", async (t) => {
		const dir = await tempDir(t);
		const index = join(dir, "model.safetensors.index.json");
		await writeFile(index, "{ nope");
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(index, /not valid JSON/));
		await writeFile(index, JSON.stringify({ weight_map: { a: "../elsewhere.safetensors" } }));
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(index, /must be a shard file name inside the model folder/));
		await writeFile(index, JSON.stringify({ metadata: {} }));
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(index, /"weight_map" must be an object/));
	});
	test("a corrupt shard is reported with its own path", async (t) => {
		const dir = await tempDir(t);
		await shardedModel(dir);
		const shard = join(dir, "model-00002-of-00002.safetensors");
		await truncate(shard, 20);
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(shard, /truncated/));
	});
	test("two unindexed files with the same tensor", async (t) => {
		const dir = await tempDir(t);
		await writeFile(join(dir, "a.safetensors"), buildSafetensors([u8("w", 1)]));
		await writeFile(join(dir, "b.safetensors"), buildSafetensors([u8("w", 2)]));
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(dir, /tensor "w" is in both .*a\.safetensors and .*b\.safetensors/));
	});
	test("a folder without safetensors weights, with a hint for pickles", async (t) => {
		const dir = await tempDir(t);
		await writeFile(join(dir, "pytorch_model.bin"), "pickle");
		await assert.rejects(ModelWeights.open(dir), (e: unknown) => isSafetensorsError(dir, /no safetensors weights found/)(e) && /convert them to safetensors/.test((e as SafetensorsError).hint ?? ""));
		await assert.rejects(ModelWeights.open(join(dir, "absent")), isSafetensorsError(join(dir, "absent"), /cannot read the model folder: ENOENT/));
		await mkdir(join(dir, "dir.safetensors"));
		await assert.rejects(ModelWeights.open(dir), isSafetensorsError(dir, /no safetensors weights/));
	});
});

describe("selectWeightFiles: the one rule for which files hold a model's weights", () => {
	const cases: [string, string[], WeightFiles][] = [
		["the index wins", ["model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors"], { kind: "indexed", index: "model.safetensors.index.json" }],
		["then model.safetensors alone", ["consolidated.safetensors", "model.safetensors", "config.json"], { kind: "files", files: ["model.safetensors"] }],
		["then every *.safetensors, sorted", ["b.safetensors", "config.json", "a.safetensors"], { kind: "files", files: ["a.safetensors", "b.safetensors"] }],
		["none: the other formats found", ["config.json", "pytorch_model.bin", "model.gguf", "README.md"], { kind: "none", otherWeights: ["model.gguf", "pytorch_model.bin"] }],
		["none at all", ["config.json"], { kind: "none", otherWeights: [] }],
	];
	for (const [what, names, expected] of cases) test(what, () => assert.deepEqual(selectWeightFiles(names), expected));
});
