import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Q8_0_BYTES, quantizeQ8_0, quantizeQ8_0Reference } from "../../src/gguf/q8-0.js";
import { SeededRandom } from "../../src/random/seeded-random.js";
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

test("Q8_0 SIMD kernel: the bytes gguf-py's quantizer gives", async () => {
	const { input, expected } = await oracle();
	const out = new Uint8Array(expected.length);
	quantizeQ8_0(input, out);
	assert.deepEqual(out, expected);
});

test("Q8_0 SIMD kernel equals the reference on 100 000 blocks of mixed scales, across its chunks", () => {
	const random = new SeededRandom(7);
	const blocks = 100_000;
	const input = new Float32Array(blocks * 32);
	for (let b = 0; b < blocks; b++) {
		const scale = 10 ** (random.uniform() * 12 - 9);
		for (let i = 0; i < 32; i++) input[b * 32 + i] = (random.uniform() * 2 - 1) * scale;
	}
	const a = new Uint8Array(blocks * Q8_0_BYTES);
	const b = new Uint8Array(blocks * Q8_0_BYTES);
	quantizeQ8_0Reference(input, a);
	quantizeQ8_0(input, b);
	assert.ok(Buffer.from(a).equals(Buffer.from(b)));
});
