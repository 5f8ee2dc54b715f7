/**
 * The GgufTap (a merge's GGUF file written from its safetensors stream) on a tied model whose llama.cpp
 * architecture needs `output.weight` (qwen2moe): the copy of the embeddings is placed right after them
 * and taken from the stream, never read back from the finished shards; the file is byte for byte what
 * `moe-merge gguf`'s reader-side writing (writeTensorData) makes of the same plan.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { QWEN2_MOE_GGUF } from "../../src/gguf/architectures/qwen.js";
import { GgufTap } from "../../src/gguf/gguf-tap.js";
import { GgufWriter } from "../../src/gguf/gguf-writer.js";
import { layoutGguf } from "../../src/gguf/layout.js";
import { u32 } from "../../src/gguf/metadata.js";
import { planGgufTensors } from "../../src/gguf/plan-gguf.js";
import { writeTensorData } from "../../src/gguf/tensor-data.js";
import { GGUF_TENSOR_TYPES } from "../../src/gguf/tensor-types.js";
import { ModelWeights } from "../../src/safetensors/model-weights.js";
import { tempDir } from "../merge/helpers.js";
import { GGUF_FIXTURES } from "./helpers.js";

const TIED = join(GGUF_FIXTURES, "qwen2");

for (const type of ["f32", "f16"] as const) {
	test(`tied embeddings (${type}): output.weight comes from the stream, right after token_embd, and the file is what writeTensorData writes`, async () => {
		const dir = await tempDir();
		const config = JSON.parse(await readFile(join(TIED, "config.json"), "utf8")) as Record<string, unknown>;
		assert.equal(config.tie_word_embeddings, true);
		const weights = await ModelWeights.open(TIED);
		try {
			const plan = planGgufTensors(TIED, weights, config, QWEN2_MOE_GGUF, GGUF_TENSOR_TYPES[type]);
			const names = plan.map((t) => t.name);
			assert.equal(names.indexOf("output.weight"), names.indexOf("token_embd.weight") + 1);
			const layout = layoutGguf([u32("test.tied", 1)], plan);

			const read = await GgufWriter.open(join(dir, "read.gguf"), layout);
			for (const tensor of plan) await writeTensorData(read, tensor);
			await read.finish();

			const tap = new GgufTap(await GgufWriter.open(join(dir, "tap.gguf"), layout), plan);
			// The stream: every tensor of the file in order, in pieces that do not end on rows.
			const locations = weights.names().map((n) => weights.get(n)).sort((a, b) => a.info.begin - b.info.begin);
			for (const { file, info } of locations) {
				const bytes = new Uint8Array(info.end - info.begin);
				await file.read(info, 0, bytes.length, bytes);
				for (let at = 0; at < bytes.length; at += 1000) await tap.receive(info.name, bytes.subarray(at, at + 1000));
			}
			await tap.finish((name) => assert.fail(`${name} was read back from the shards`));

			const [fromTap, fromRead] = [await readFile(join(dir, "tap.gguf")), await readFile(join(dir, "read.gguf"))];
			assert.ok(fromTap.equals(fromRead), "the tap's file equals the reader's");
			const embd = layout.tensors.find((t) => t.name === "token_embd.weight")!;
			const output = layout.tensors.find((t) => t.name === "output.weight")!;
			assert.ok(fromTap.subarray(output.offset, output.offset + output.bytes).equals(fromTap.subarray(embd.offset, embd.offset + embd.bytes)));
			// At most the one copied tensor held (its last rows go straight to the file).
			assert.ok(tap.maxHeldBytes > 0 && tap.maxHeldBytes <= output.bytes, `${tap.maxHeldBytes} bytes held, output.weight has ${output.bytes}`);
		} finally {
			await weights.close();
		}
	});
}
