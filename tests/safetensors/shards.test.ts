import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { OutputError } from "../../src/errors.js";
import {
	ModelWeights,
	SafetensorsFile,
	ShardWriter,
	dtypeBytes,
	encodeIndex,
	encodeShardHeader,
	planShards,
	type DType,
	type OutputTensorSpec,
	type ShardPlan,
} from "../../src/safetensors/index.js";
import { LLAMA_BASE_FILE, pseudoRandomBytes, tempDir } from "./helpers.js";

const FLOAT_DTYPES: DType[] = ["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"];
const SHAPES = [[], [0], [3, 0, 2], [1], [7], [2, 3], [4, 5, 6]];

function spec(name: string, dtype: DType, shape: number[]): OutputTensorSpec {
	return { name, dtype, shape };
}

function dataFor(s: OutputTensorSpec, seed: number): Uint8Array {
	return pseudoRandomBytes(s.shape.reduce((a, b) => a * b, 1) * dtypeBytes(s.dtype), seed);
}

/** Writes every shard of `plans`, each tensor in chunks of `chunkBytes`, plus the index when sharded. */
async function writeModel(dir: string, plans: ShardPlan[], data: Map<string, Uint8Array>, chunkBytes = 5): Promise<void> {
	for (const plan of plans) {
		const writer = await ShardWriter.create(dir, plan);
		for (const { spec: s } of plan.tensors) {
			const bytes = data.get(s.name)!;
			for (let at = 0; at < bytes.length; at += chunkBytes) await writer.write(bytes.subarray(at, at + chunkBytes));
		}
		assert.equal(writer.bytesWritten, plan.dataBytes);
		await writer.finish();
	}
	if (plans.length > 1) await writeFile(join(dir, "model.safetensors.index.json"), encodeIndex(plans));
}

describe("write then read", () => {
	test("every float dtype and shape, including 0-d and empty tensors, round-trips through one file", async (t) => {
		const dir = await tempDir(t);
		const specs = FLOAT_DTYPES.flatMap((dtype) => SHAPES.map((shape, i) => spec(`${dtype}.${i}`, dtype, shape)));
		const data = new Map(specs.map((s, i) => [s.name, dataFor(s, i + 1)]));
		const plans = planShards(specs, 1e9);
		assert.equal(plans.length, 1);
		assert.equal(plans[0]!.fileName, "model.safetensors");
		await writeModel(dir, plans, data);
		assert.deepEqual(await readdir(dir), ["model.safetensors"]);

		const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
		t.after(() => file.close());
		assert.deepEqual(file.header.metadata, { format: "pt" });
		assert.equal(file.header.dataStart, plans[0]!.headerBytes);
		assert.equal(file.header.dataStart % 8, 0);
		assert.deepEqual([...file.header.tensors.keys()], specs.map((s) => s.name));
		for (const s of specs) {
			const info = file.header.tensors.get(s.name)!;
			assert.equal(info.dtype, s.dtype);
			assert.deepEqual(info.shape, s.shape);
			const expected = data.get(s.name)!;
			const got = new Uint8Array(expected.length);
			await file.read(info, 0, expected.length, got);
			assert.deepEqual(got, expected, s.name);
		}
	});

	test("reads at an offset, into a subarray of a bigger buffer", async (t) => {
		const dir = await tempDir(t);
		const s = spec("w", "F32", [10, 10]);
		const data = dataFor(s, 9);
		await writeModel(dir, planShards([s], 1e9), new Map([["w", data]]));
		const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
		t.after(() => file.close());
		const buffer = new Uint8Array(100).fill(0xaa);
		await file.read(file.header.tensors.get("w")!, 37, 50, buffer.subarray(3));
		assert.deepEqual(buffer.subarray(3, 53), data.subarray(37, 87));
		assert.equal(buffer[2], 0xaa);
		assert.equal(buffer[53], 0xaa);
		await assert.rejects(file.read(file.header.tensors.get("w")!, 390, 20, buffer), RangeError);
	});

	test("custom metadata is written after format", async (t) => {
		const dir = await tempDir(t);
		const plans = planShards([spec("a", "U8", [3])], 100, { merged_by: "moe-merge" });
		const writer = await ShardWriter.create(dir, plans[0]!, { merged_by: "moe-merge" });
		await writer.write(new Uint8Array([1, 2, 3]));
		await writer.finish();
		const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
		t.after(() => file.close());
		assert.deepEqual(file.header.metadata, { format: "pt", merged_by: "moe-merge" });
		assert.equal(file.header.dataStart, plans[0]!.headerBytes);
	});

	test("copying the torch-written fixture reproduces it byte for byte", async (t) => {
		const dir = await tempDir(t);
		const source = await SafetensorsFile.open(LLAMA_BASE_FILE);
		t.after(() => source.close());
		const infos = [...source.header.tensors.values()];
		const plans = planShards(infos.map((i) => spec(i.name, i.dtype, i.shape)), 1e12);
		const writer = await ShardWriter.create(dir, plans[0]!);
		const buffer = new Uint8Array(65536);
		for (const info of infos) {
			for (let at = 0; at < info.end - info.begin; at += buffer.length) {
				const n = Math.min(buffer.length, info.end - info.begin - at);
				await source.read(info, at, n, buffer);
				await writer.write(buffer.subarray(0, n));
			}
		}
		await writer.finish();
		assert.deepEqual(await readFile(join(dir, "model.safetensors")), await readFile(LLAMA_BASE_FILE));
	});
});

describe("planShards", () => {
	const u8 = (name: string, n: number) => spec(name, "U8", [n]);

	test("fills shards in order up to the limit", () => {
		const plans = planShards([u8("a", 4), u8("b", 4), u8("c", 4), u8("d", 0), u8("e", 8)], 8);
		assert.deepEqual(plans.map((p) => p.tensors.map((t) => t.spec.name)), [["a", "b"], ["c", "d"], ["e"]]);
		assert.deepEqual(plans.map((p) => p.fileName), ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]);
		assert.deepEqual(plans.map((p) => p.dataBytes), [8, 4, 8]);
	});
	test("a tensor bigger than the limit gets a shard of its own, order kept", () => {
		const plans = planShards([u8("a", 2), u8("big", 20), u8("b", 2), u8("c", 2)], 5);
		assert.deepEqual(plans.map((p) => p.tensors.map((t) => t.spec.name)), [["a"], ["big"], ["b", "c"]]);
	});
	test("byte lengths, header sizes and an empty plan", () => {
		const [plan] = planShards([spec("x", "BF16", [3, 5]), spec("s", "F64", [])], 1000);
		assert.deepEqual(plan!.tensors.map((t) => t.byteLength), [30, 8]);
		assert.equal(plan!.headerBytes, 8 + encodeShardHeader(plan!).length);
		assert.equal(plan!.headerBytes % 8, 0);
		const empty = planShards([], 10);
		assert.equal(empty.length, 1);
		assert.equal(empty[0]!.fileName, "model.safetensors");
	});
	test("refuses bad limits, shapes and names", () => {
		assert.throws(() => planShards([], 0), RangeError);
		assert.throws(() => planShards([spec("x", "U8", [-1])], 10), RangeError);
		assert.throws(() => planShards([u8("a", 1), u8("a", 1)], 10), /planned twice/);
		assert.throws(() => planShards([u8("__metadata__", 1)], 10), /invalid tensor name/);
	});
	test("the header is the JSON torch writes, space-padded to a multiple of 8", () => {
		const [plan] = planShards([spec("a.w", "F32", [2, 1]), spec("b", "BF16", [])], 100);
		const text = new TextDecoder().decode(encodeShardHeader(plan!));
		const json = '{"__metadata__":{"format":"pt"},"a.w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}';
		assert.equal(text, json.padEnd(Math.ceil(json.length / 8) * 8, " "));
	});
	test("integer-like and non-ASCII names keep their plan order in the header", () => {
		const [plan] = planShards([u8("b", 1), u8("10", 1), u8("2", 1), u8("é", 1)], 100);
		const keys = Object.keys(JSON.parse(new TextDecoder().decode(encodeShardHeader(plan!))));
		assert.deepEqual(keys.sort(), ["10", "2", "__metadata__", "b", "é"]);
		const text = new TextDecoder().decode(encodeShardHeader(plan!));
		assert.ok(text.indexOf('"b"') < text.indexOf('"10"') && text.indexOf('"10"') < text.indexOf('"2"'));
	});
});

describe("the sharded index", () => {
	test("is formatted like transformers' json.dumps(indent=2, sort_keys=True)", () => {
		const plans = planShards([spec("z", "U8", [4]), spec("a", "F32", [1]), spec("m.é", "U8", [4]), spec("😀", "U8", [1]), spec("\uffff", "U8", [1])], 4);
		assert.equal(
			encodeIndex(plans),
			[
				"{",
				'  "metadata": {',
				'    "total_size": 14',
				"  },",
				'  "weight_map": {',
				'    "a": "model-00002-of-00004.safetensors",',
				'    "m.\\u00e9": "model-00003-of-00004.safetensors",',
				'    "z": "model-00001-of-00004.safetensors",',
				'    "\\uffff": "model-00004-of-00004.safetensors",',
				'    "\\ud83d\\ude00": "model-00004-of-00004.safetensors"',
				"  }",
				"}",
				"",
			].join("\n"),
		);
	});

	test("a sharded model written by ShardWriter opens as ModelWeights with every tensor readable", async (t) => {
		const dir = await tempDir(t);
		const specs = Array.from({ length: 12 }, (_, i) => spec(`layers.${i}.w`, i % 2 ? "BF16" : "F32", [i, 3]));
		const data = new Map(specs.map((s, i) => [s.name, dataFor(s, 100 + i)]));
		const plans = planShards(specs, 64);
		assert.ok(plans.length > 3);
		await writeModel(dir, plans, data, 7);
		const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8"));
		assert.equal(index.metadata.total_size, [...data.values()].reduce((sum, d) => sum + d.length, 0));

		const weights = await ModelWeights.open(dir);
		t.after(() => weights.close());
		assert.deepEqual(weights.names().sort(), specs.map((s) => s.name).sort());
		for (const s of specs) {
			const { file, info } = weights.get(s.name);
			assert.equal(file.path, join(dir, index.weight_map[s.name]));
			const got = new Uint8Array(info.end - info.begin);
			await file.read(info, 0, got.length, got);
			assert.deepEqual(got, data.get(s.name));
		}
	});
});

describe("ShardWriter", () => {
	const plan = () => planShards([spec("a", "U8", [4]), spec("b", "U8", [4])], 100)[0]!;

	test("refuses more bytes than planned", async (t) => {
		const dir = await tempDir(t);
		const writer = await ShardWriter.create(dir, plan());
		await writer.write(new Uint8Array(6));
		await assert.rejects(writer.write(new Uint8Array(3)), /bug: writing 3 bytes at data byte 6 \(tensor "b" byte 2\) exceeds the 8 bytes planned/);
		await writer.abort();
	});
	test("finish refuses a shard with missing bytes", async (t) => {
		const dir = await tempDir(t);
		const writer = await ShardWriter.create(dir, plan());
		await writer.write(new Uint8Array(5));
		await assert.rejects(writer.finish(), /3 of 8 data bytes were never written \(tensor "b" byte 1\)/);
	});
	test("writes may be in flight together and land in order", async (t) => {
		const dir = await tempDir(t);
		const writer = await ShardWriter.create(dir, plan());
		await Promise.all([writer.write(new Uint8Array([1, 2, 3])), writer.write(new Uint8Array([4, 5])), writer.write(new Uint8Array([6, 7, 8]))]);
		await writer.finish();
		const bytes = await readFile(join(dir, "model.safetensors"));
		assert.deepEqual([...bytes.subarray(bytes.length - 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
	});
	test("does not overwrite an existing file unless asked", async (t) => {
		const dir = await tempDir(t);
		await writeFile(join(dir, "model.safetensors"), "old");
		await assert.rejects(ShardWriter.create(dir, plan()), (e: unknown) => e instanceof OutputError && e.file === join(dir, "model.safetensors") && /EEXIST/.test(e.message) && !!e.hint);
		const writer = await ShardWriter.create(dir, plan(), undefined, { overwrite: true });
		await writer.write(new Uint8Array(8));
		await writer.finish();
		const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
		await file.close();
	});
	test("a missing output folder is an OutputError", async (t) => {
		const dir = await tempDir(t);
		await assert.rejects(ShardWriter.create(join(dir, "missing"), plan()), (e: unknown) => e instanceof OutputError && /ENOENT/.test(e.message));
	});
});
