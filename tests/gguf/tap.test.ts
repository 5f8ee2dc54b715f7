/**
 * The GgufTap (a merge's GGUF file written from its safetensors stream) on a tied model whose llama.cpp
 * architecture needs `output.weight` (qwen2moe): the copy of the embeddings is placed right after them
 * and taken from the stream, never read back from the finished shards; the file is byte for byte what
 * `moe-merge gguf`'s reader-side writing (writeTensorsData) makes of the same plan, whatever the
 * staging buffers (the engine's, small enough that Q8_0 blocks straddle their ends, or the writer's own).
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
import { writeTensorsData } from "../../src/gguf/tensor-data.js";
import { GGUF_TENSOR_TYPES } from "../../src/gguf/tensor-types.js";
import { ComputeEngine } from "../../src/kernels/engine.js";
import { ModelWeights } from "../../src/safetensors/model-weights.js";
import { tempDir } from "../merge/helpers.js";
import { GGUF_FIXTURES } from "./helpers.js";

const TIED = join(GGUF_FIXTURES, "qwen2");

for (const type of ["f32", "f16", "q8_0"] as const) {
	test(`tied embeddings (${type}): output.weight comes from the stream, right after token_embd, and the file is what writeTensorsData writes`, async (t) => {
		const dir = await tempDir();
		const engine = await ComputeEngine.create({ threads: 2 });
		t.after(() => engine.close());
		const config = JSON.parse(await readFile(join(TIED, "config.json"), "utf8")) as Record<string, unknown>;
		assert.equal(config.tie_word_embeddings, true);
		const weights = await ModelWeights.open(TIED);
		try {
			const plan = planGgufTensors(TIED, weights, config, QWEN2_MOE_GGUF, GGUF_TENSOR_TYPES[type]);
			const names = plan.map((t) => t.name);
			assert.equal(names.indexOf("output.weight"), names.indexOf("token_embd.weight") + 1);
			const layout = layoutGguf([u32("test.tied", 1)], plan);

			// The writer's own staging buffers (16 MiB), and the engine's of one page each.
			const read = await GgufWriter.open(join(dir, "read.gguf"), layout);
			await writeTensorsData(read, plan, engine);
			await read.finish();
			const small = engine.stagingBuffers(3, 4096);
			t.after(() => small.release());
			const readSmall = await GgufWriter.open(join(dir, "read-small.gguf"), layout, { buffers: small.buffers });
			await writeTensorsData(readSmall, plan, engine);
			await readSmall.finish();

			const tapStaging = engine.stagingBuffers(2, 8192);
			t.after(() => tapStaging.release());
			const tap = new GgufTap(await GgufWriter.open(join(dir, "tap.gguf"), layout, { buffers: tapStaging.buffers }), plan, engine);
			// The stream: every tensor of the file in order, in pieces that do not end on rows, from the engine's memory (as a merge's shard staging).
			const locations = weights.names().map((n) => weights.get(n)).sort((a, b) => a.info.begin - b.info.begin);
			const piece = engine.rawBuffer(1000);
			t.after(() => piece.release());
			for (const { file, info } of locations) {
				const bytes = new Uint8Array(info.end - info.begin);
				await file.read(info, 0, bytes.length, bytes);
				for (let at = 0; at < bytes.length; at += 1000) {
					const chunk = piece.bytes.subarray(0, Math.min(1000, bytes.length - at));
					chunk.set(bytes.subarray(at, at + chunk.length));
					await tap.receive(info.name, chunk);
				}
			}
			await tap.finish((name) => assert.fail(`${name} was read back from the shards`));

			const [fromTap, fromRead, fromSmall] = await Promise.all(["tap", "read", "read-small"].map((f) => readFile(join(dir, `${f}.gguf`))));
			assert.ok(fromRead.equals(fromSmall), "the file does not depend on the staging buffers");
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
