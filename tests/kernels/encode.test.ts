/**
 * ComputeEngine.encode (GGUF tensor data: cvt_narrow, cvt_*_f32 and quantize_q8_0 on the workers, or on
 * the main thread for small jobs) against the plain references: convertDtype (float-kernels.ts) and
 * quantizeQ8_0Reference, bit for bit. 16-bit sources: all 65 536 values (NaNs, Infs, subnormals, ties).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Q8_0_BYTES, quantizeQ8_0Reference } from "../../src/gguf/q8-0.js";
import type { EncodeTarget } from "../../src/kernels/encode-range.js";
import { ComputeEngine } from "../../src/kernels/index.js";
import { SeededRandom } from "../../src/random/seeded-random.js";
import { type DType, convertDtype, dtypeBytes, toFloat32 } from "../../src/safetensors/index.js";
import { describeEachEngine } from "./helpers.js";

const ALL_16_BIT = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);

/**
 * f32 bit patterns around every rounding boundary of f16 (the low 13 bits) and bf16 (the low 16 bits):
 * each of the 2^19 (resp. 2^16) high parts with the low bits at 0, just below half, half, just above, all ones.
 */
function f32Boundaries(): Uint8Array {
	const lowF16 = [0, 0x0fff, 0x1000, 0x1001, 0x1fff];
	const lowBf16 = [0, 0x7fff, 0x8000, 0x8001, 0xffff];
	const out = new Uint32Array((1 << 19) * lowF16.length + (1 << 16) * lowBf16.length);
	let i = 0;
	for (let high = 0; high < 1 << 19; high++) for (const low of lowF16) out[i++] = ((high << 13) | low) >>> 0;
	for (let high = 0; high < 1 << 16; high++) for (const low of lowBf16) out[i++] = ((high << 16) | low) >>> 0;
	return new Uint8Array(out.buffer);
}

function reference(src: Uint8Array, dtype: DType, target: EncodeTarget, count: number): Uint8Array {
	if (target === "Q8_0") {
		const out = new Uint8Array((count / 32) * Q8_0_BYTES);
		quantizeQ8_0Reference(toFloat32(src, dtype, count), out);
		return out;
	}
	const out = new Uint8Array(count * dtypeBytes(target));
	convertDtype(src, dtype, out, target, count);
	return out;
}

/** `count` random finite values of mixed scales (Q8_0 compares NaN blocks separately), as `dtype`. */
function finiteValues(dtype: "F32" | "F16" | "BF16", count: number): Uint8Array {
	const random = new SeededRandom(count);
	const values = new Float32Array(count);
	for (let i = 0; i < count; i++) values[i] = (random.uniform() * 2 - 1) * 10 ** (Math.floor(i / 32) % 9 - 6);
	const f32 = new Uint8Array(values.buffer);
	return dtype === "F32" ? f32 : reference(f32, "F32", dtype, count);
}

async function encoded(engine: ComputeEngine, src: Uint8Array, dtype: "F32" | "F16" | "BF16", target: EncodeTarget, count: number, out: Uint8Array): Promise<Uint8Array> {
	await engine.encode(src, dtype, target, count, out);
	return out;
}

function assertSameBytes(got: Uint8Array, want: Uint8Array, width: number, what: string): void {
	if (Buffer.from(got.buffer, got.byteOffset, got.length).equals(Buffer.from(want.buffer, want.byteOffset, want.length))) return;
	for (let i = 0; i < want.length; i += width) {
		const a = Buffer.from(got.subarray(i, i + width)).toString("hex");
		const b = Buffer.from(want.subarray(i, i + width)).toString("hex");
		assert.equal(a, b, `${what}: value ${i / width}`);
	}
}

describeEachEngine("encode", (under) => {
	for (const dtype of ["F16", "BF16"] as const) {
		for (const target of ["F32", "F16", "BF16"] as const) {
			test(`every ${dtype} value -> ${target}, bit for bit as convertDtype`, async () => {
				const width = dtypeBytes(target);
				const got = await encoded(under.engine, ALL_16_BIT, dtype, target, 65536, new Uint8Array(65536 * width));
				assertSameBytes(got, reference(ALL_16_BIT, dtype, target, 65536), width, `${dtype} -> ${target}`);
			});
		}
	}

	test("f32 values at every f16 and bf16 rounding boundary -> F16 and BF16, bit for bit as convertDtype", async () => {
		const src = f32Boundaries();
		const count = src.length / 4;
		for (const target of ["F16", "BF16"] as const) {
			const got = await encoded(under.engine, src, "F32", target, count, new Uint8Array(count * 2));
			assertSameBytes(got, reference(src, "F32", target, count), 2, `F32 -> ${target}`);
		}
	});

	test("any count and offset (the last count mod 8 values, main thread and workers), nothing written past the end", async () => {
		for (const count of [1, 3, 5, 7, 4099, 65537, 200_003]) {
			for (const [dtype, target] of [["BF16", "F16"], ["F16", "BF16"], ["F32", "F16"], ["BF16", "F32"]] as const) {
				const bytes = ALL_16_BIT.subarray(0, ((count * dtypeBytes(dtype)) % ALL_16_BIT.length) || 2);
				const src = new Uint8Array(count * dtypeBytes(dtype) + 1).subarray(1);
				for (let i = 0; i < src.length; i += bytes.length) src.set(bytes.subarray(0, Math.min(bytes.length, src.length - i)), i);
				const out = new Uint8Array(count * dtypeBytes(target) + 8).fill(0xa5);
				await under.engine.encode(src, dtype, target, count, out);
				assertSameBytes(out.subarray(0, count * dtypeBytes(target)), reference(src, dtype, target, count), dtypeBytes(target), `${count} ${dtype} -> ${target}`);
				assert.deepEqual([...out.subarray(count * dtypeBytes(target))], new Array(8).fill(0xa5), `${count} ${dtype} -> ${target}: past the end`);
			}
		}
	});

	test("Q8_0 from F32, F16 and BF16 (mixed scales, zero blocks, main thread and workers) equals quantizeQ8_0Reference", async () => {
		const random = new SeededRandom(11);
		for (const blocks of [1, 3, 2047, 9000, 9003]) {
			const values = new Float32Array(blocks * 32);
			for (let b = 0; b < blocks; b++) {
				const scale = b % 7 === 3 ? 0 : 10 ** (random.uniform() * 12 - 9);
				for (let i = 0; i < 32; i++) values[b * 32 + i] = (random.uniform() * 2 - 1) * scale;
			}
			const f32 = new Uint8Array(values.buffer);
			for (const dtype of ["F32", "F16", "BF16"] as const) {
				const src = dtype === "F32" ? f32 : reference(f32, "F32", dtype, values.length);
				const got = await encoded(under.engine, src, dtype, "Q8_0", values.length, new Uint8Array(blocks * Q8_0_BYTES));
				assertSameBytes(got, reference(src, dtype, "Q8_0", values.length), Q8_0_BYTES, `${blocks} blocks of ${dtype}`);
			}
		}
	});

	test("Q8_0 of special blocks: NaN, Inf, zeros, tiny maxima (1/d overflows), subnormals, exact halves", async () => {
		// (NaN blocks are checked on their own below: the reference's NaN sign is the platform's)
		const blocks: number[][] = [
			[Infinity, 1, -1], [-Infinity, 3], [], [-0, -0],
			[1e-38, -3e-39, 5e-40], [1.4e-45, -2.8e-45], [1e-40, 1e-41, -7e-41], [3.5e38, -3.4e38, 1e30],
			// max 127 -> d = 1, id = 1: every x.5 is a tie (rounded away from zero), 0.49999997 is not
			[127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 0.49999997, -0.49999997, 0.50000006, 63.5, -64.5],
			// max 12.7 -> d = 0.1: ties of x * (1/d) that are not ties of x / d
			[12.7, 0.05, -0.05, 0.15, 0.25, -0.35, 6.35, -6.45],
		];
		const values = new Float32Array(blocks.length * 32);
		blocks.forEach((block, b) => values.set(block, b * 32));
		const f32 = new Uint8Array(values.buffer);
		for (const dtype of ["F32", "F16", "BF16"] as const) {
			const src = dtype === "F32" ? f32 : reference(f32, "F32", dtype, values.length);
			const got = await encoded(under.engine, src, dtype, "Q8_0", values.length, new Uint8Array(blocks.length * Q8_0_BYTES));
			assertSameBytes(got, reference(src, dtype, "Q8_0", values.length), Q8_0_BYTES, `special blocks of ${dtype}`);
		}
		// A block with a NaN (besides Inf, or finite values): a NaN scale and 32 zeros.
		const nan = new Float32Array(3 * 32);
		nan.set([NaN, 1, -2], 0);
		nan.set([Infinity, -NaN], 32);
		nan.set([0.5, 2, NaN], 64 + 29);
		const got = await encoded(under.engine, new Uint8Array(nan.buffer), "F32", "Q8_0", nan.length, new Uint8Array(3 * Q8_0_BYTES));
		for (let b = 0; b < 3; b++) {
			const scale = got[b * Q8_0_BYTES]! | (got[b * Q8_0_BYTES + 1]! << 8);
			assert.ok((scale & 0x7c00) === 0x7c00 && (scale & 0x3ff) !== 0, `NaN block ${b}: scale ${scale.toString(16)}`);
			assert.deepEqual([...got.subarray(b * Q8_0_BYTES + 2, (b + 1) * Q8_0_BYTES)], new Array(32).fill(0), `NaN block ${b}`);
		}
	});

	test("unaligned source and destination in the engine's memory, every target, lengths with tails", async () => {
		for (const count of [32 * 5, 32 * 4099, 8 * 9000 + 5]) {
			for (const dtype of ["F32", "F16", "BF16"] as const) {
				for (const target of ["F16", "BF16", "Q8_0"] as const) {
					if (target === "Q8_0" && count % 32 !== 0) continue;
					const inBytes = count * dtypeBytes(dtype);
					const outBytes = target === "Q8_0" ? (count / 32) * Q8_0_BYTES : count * 2;
					const src = under.engine.rawBuffer(inBytes + 16);
					const out = under.engine.rawBuffer(outBytes + 16);
					try {
						const s = src.bytes.subarray(3, 3 + inBytes);
						if (target === "Q8_0") s.set(finiteValues(dtype, count));
						else for (let i = 0; i < s.length; i += ALL_16_BIT.length) s.set(ALL_16_BIT.subarray(0, Math.min(ALL_16_BIT.length, s.length - i)), i);
						const d = out.bytes.subarray(5, 5 + outBytes);
						await under.engine.encode(s, dtype, target, count, d);
						const width = target === "Q8_0" ? Q8_0_BYTES : 2;
						assertSameBytes(d, reference(s, dtype, target, count), width, `${count} ${dtype} -> ${target} unaligned`);
					} finally {
						await Promise.all([src.release(), out.release()]);
					}
				}
			}
		}
	});

	test("bytes already in the engine's memory (rawBuffer) are encoded where they are", async () => {
		const src = under.engine.rawBuffer(ALL_16_BIT.length);
		const out = under.engine.rawBuffer(ALL_16_BIT.length);
		try {
			src.bytes.set(ALL_16_BIT);
			await under.engine.encode(src.bytes, "BF16", "F16", 65536, out.bytes);
			assertSameBytes(out.bytes, reference(ALL_16_BIT, "BF16", "F16", 65536), 2, "in place");
		} finally {
			await Promise.all([src.release(), out.release()]);
		}
	});
});

test("encode rejects what it cannot do: an unknown target, a Q8_0 count not of whole blocks, short buffers", async (t) => {
	const engine = await ComputeEngine.create({ threads: 1 });
	t.after(() => engine.close());
	await assert.rejects(engine.encode(new Uint8Array(8), "F32", "Q4_K" as EncodeTarget, 2, new Uint8Array(8)), /target must be/);
	await assert.rejects(engine.encode(new Uint8Array(80), "F32", "Q8_0", 20, new Uint8Array(80)), /bad count 20 for Q8_0/);
	await assert.rejects(engine.encode(new Uint8Array(6), "BF16", "F16", 4, new Uint8Array(8)), /need 8 bytes in/);
});
