import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { GgufWriter } from "../../src/gguf/gguf-writer.js";
import { layoutGguf } from "../../src/gguf/layout.js";
import { arr, type GgufEntry, str } from "../../src/gguf/metadata.js";
import { GGUF_TENSOR_TYPES } from "../../src/gguf/tensor-types.js";
import { GGUF_FIXTURES, readF32 } from "./helpers.js";

const scalar = (key: string, type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "u64" | "i64" | "f64", value: number | boolean | bigint): GgufEntry => ({
	key,
	value: { type, value },
});

/** The metadata make-fixtures.py gives gguf.GGUFWriter, in its order. */
const METADATA: GgufEntry[] = [
	str("general.architecture", "llama"),
	scalar("t.u8", "u8", 200),
	scalar("t.i8", "i8", -100),
	scalar("t.u16", "u16", 60000),
	scalar("t.i16", "i16", -30000),
	scalar("t.u32", "u32", 4000000000),
	scalar("t.i32", "i32", -2000000000),
	scalar("t.f32", "f32", 0.1),
	scalar("t.bool", "bool", true),
	str("t.string", "héllo ✅"),
	scalar("t.u64", "u64", 2n ** 40n + 3n),
	scalar("t.i64", "i64", -(2n ** 40n) - 3n),
	scalar("t.f64", "f64", 1e-300),
	arr("t.strings", "string", ["a", "", "ü"]),
	arr("t.i32s", "i32", [1, -2, 3]),
	arr("t.f32s", "f32", [0.5, -1.25]),
	arr("t.bools", "bool", [true, false]),
];

test("a GGUF file byte-identical to gguf-py's GGUFWriter: metadata of every type, f32/f16/bf16/q8_0 tensors, alignment padding", async () => {
	const x = await readF32(join(GGUF_FIXTURES, "writer-input.f32")); // [2, 3, 64]
	const { f32, f16, bf16, q8_0 } = GGUF_TENSOR_TYPES;
	const layout = layoutGguf(METADATA, [
		{ name: "a.f32", shape: [5], type: f32 },
		{ name: "b.f16", shape: [3, 64], type: f16 },
		{ name: "c.bf16", shape: [3, 64], type: bf16 },
		{ name: "d.q8_0", shape: [2, 3, 64], type: q8_0 },
	]);
	const dir = await mkdtemp(join(tmpdir(), "gguf-writer-"));
	try {
		const path = join(dir, "out.gguf");
		const writer = await GgufWriter.open(path, layout);
		const parts: [Float32Array, typeof f32][] = [
			[x.subarray(0, 5), f32],
			[x.subarray(0, 192), f16],
			[x.subarray(192, 384), bf16],
		];
		for (const [values, type] of parts) {
			const out = new Uint8Array((values.length / type.blockSize) * type.typeSize);
			type.encode(values, out);
			await writer.write(out);
		}
		// The 3-D tensor in two pieces, as a stacked expert tensor is written.
		for (const half of [x.subarray(0, 192), x.subarray(192)]) {
			const out = new Uint8Array((half.length / 32) * 34);
			q8_0.encode(half, out);
			await writer.write(out);
		}
		const sha = await writer.finish();
		const ours = await readFile(path);
		const theirs = await readFile(join(GGUF_FIXTURES, "writer-gguf-py.gguf"));
		assert.equal(ours.length, layout.fileBytes);
		assert.ok(ours.equals(theirs), "bytes differ from gguf-py's file");
		assert.match(sha, /^[0-9a-f]{64}$/);
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
});

test("general.alignment is written when not 32, and the data is aligned to it", () => {
	const layout = layoutGguf([str("general.architecture", "llama")], [{ name: "a", shape: [3], type: GGUF_TENSOR_TYPES.f32 }, { name: "b", shape: [3], type: GGUF_TENSOR_TYPES.f32 }], 64);
	assert.ok(layout.header.includes(Buffer.from("general.alignment")));
	assert.equal(layout.header.length % 64, 0);
	assert.equal(layout.tensors[1]!.offset - layout.tensors[0]!.offset, 64);
});

test("a q8_0 tensor whose rows are not whole blocks is refused", () => {
	assert.throws(() => layoutGguf([], [{ name: "bad", shape: [4, 33], type: GGUF_TENSOR_TYPES.q8_0 }]), /rows of 33 values cannot be stored as q8_0/);
});

test("readGgufHeader reads back gguf-py's file: metadata of every type and the tensor table", async () => {
	const { readGgufHeader } = await import("../../src/gguf/read-gguf.js");
	const header = await readGgufHeader(join(GGUF_FIXTURES, "writer-gguf-py.gguf"));
	assert.equal(header.version, 3);
	assert.equal(header.metadata.get("general.architecture"), "llama");
	assert.equal(header.metadata.get("t.string"), "héllo ✅");
	assert.equal(header.metadata.get("t.i64"), -(2n ** 40n) - 3n);
	assert.deepEqual(header.metadata.get("t.strings"), ["a", "", "ü"]);
	assert.deepEqual(header.tensors.map((t) => [t.name, t.shape, t.type.name, t.offset]), [
		["a.f32", [5], "f32", 704],
		["b.f16", [3, 64], "f16", 736],
		["c.bf16", [3, 64], "bf16", 1120],
		["d.q8_0", [2, 3, 64], "q8_0", 1504],
	]);
});

test("readGgufHeader finds a truncated file", async () => {
	const { readGgufHeader } = await import("../../src/gguf/read-gguf.js");
	const dir = await mkdtemp(join(tmpdir(), "gguf-read-"));
	try {
		const bytes = await readFile(join(GGUF_FIXTURES, "writer-gguf-py.gguf"));
		const { writeFile } = await import("node:fs/promises");
		await writeFile(join(dir, "cut.gguf"), bytes.subarray(0, bytes.length - 100));
		await assert.rejects(readGgufHeader(join(dir, "cut.gguf")), /tensor d\.q8_0 ends at byte \d+, past the end of the file .*truncated/);
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
});
