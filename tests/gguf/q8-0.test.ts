import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { quantizeQ8_0Reference } from "../../src/gguf/q8-0.js";
import { ComputeEngine } from "../../src/kernels/index.js";
import { GGUF_FIXTURES, readF32 } from "./helpers.js";

const oracle = async () => ({
	input: await readF32(join(GGUF_FIXTURES, "q8_0-input.f32")),
	expected: new Uint8Array(await readFile(join(GGUF_FIXTURES, "q8_0-gguf-py.bin"))),
});

test("Q8_0 reference quantizer: the bytes gguf-py's quantizer gives (ties, zero block, subnormal f16 scales)", async () => {
	const { input, expected } = await oracle();
	const out = new Uint8Array(expected.length);
	quantizeQ8_0Reference(input, out);
	assert.deepEqual(out, expected);
});

test("Q8_0 SIMD kernel (ComputeEngine.encode): the bytes gguf-py's quantizer gives", async (t) => {
	const engine = await ComputeEngine.create({ threads: 2 });
	t.after(() => engine.close());
	const { input, expected } = await oracle();
	const out = new Uint8Array(expected.length);
	await engine.encode(new Uint8Array(input.buffer, input.byteOffset, input.byteLength), "F32", "Q8_0", input.length, out);
	assert.deepEqual(out, expected);
});
