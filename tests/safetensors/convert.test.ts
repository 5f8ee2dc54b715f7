import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MoeMergeError } from "../../src/errors.js";
import { convertDtype, fromFloat32, toFloat32, type DType } from "../../src/safetensors/index.js";
import { bitsFromF32, f32FromBits } from "./helpers.js";

/**
 * Reference rounding written with double arithmetic instead of bit tricks: scale by the unit in the
 * last place, round half to even, scale back.
 */
function roundToFormat(x: number, mantissaBits: number, minExponent: number, maxFinite: number): number {
	if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
	const a = Math.abs(x);
	let e = Math.floor(Math.log2(a));
	if (2 ** e > a) e--;
	if (2 ** (e + 1) <= a) e++;
	const ulp = 2 ** (Math.max(e, minExponent) - mantissaBits);
	const q = a / ulp;
	const floor = Math.floor(q);
	const rest = q - floor;
	const rounded = rest > 0.5 ? floor + 1 : rest < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
	const y = rounded * ulp > maxFinite ? Infinity : rounded * ulp;
	return x < 0 ? -y : y;
}
const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;
const referenceBf16 = (x: number) => roundToFormat(x, 7, -126, BF16_MAX);
const referenceF16 = (x: number) => roundToFormat(x, 10, -14, 65504);

/** Decodes f16 bits from the definition. */
function referenceF16Value(h: number): number {
	const sign = h & 0x8000 ? -1 : 1;
	const exponent = (h >> 10) & 0x1f;
	const mantissa = h & 0x3ff;
	if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
	if (exponent === 0) return sign * mantissa * 2 ** -24;
	return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bf16Value = (bits: number) => f32FromBits(bits << 16);

function f32Bytes(bits: number[]): Uint8Array {
	return new Uint8Array(new Uint32Array(bits).buffer);
}
function u16(bytes: Uint8Array): Uint16Array {
	return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
}
function convert(src: Uint8Array, from: DType, to: DType, count: number): Uint8Array {
	const out = new Uint8Array(count * (to === "F32" ? 4 : 2));
	convertDtype(src, from, out, to, count);
	return out;
}

/** Same value, or both NaN; distinguishes +0 from -0. */
function assertSameValue(actual: number, expected: number, context: string): void {
	if (Number.isNaN(expected)) assert.ok(Number.isNaN(actual), `${context}: expected NaN, got ${actual}`);
	else assert.ok(Object.is(actual, expected), `${context}: expected ${expected}, got ${actual}`);
}

describe("f32 -> bf16", () => {
	const cases: [number, number, string][] = [
		[0x3f800000, 0x3f80, "1.0"],
		[0x3f808000, 0x3f80, "tie rounds to even (down)"],
		[0x3f818000, 0x3f82, "tie rounds to even (up)"],
		[0x3f808001, 0x3f81, "just above the tie"],
		[0x3f807fff, 0x3f80, "just below the tie"],
		[0xbf808000, 0xbf80, "negative tie"],
		[0xbf818000, 0xbf82, "negative tie up"],
		[0x7f7fffff, 0x7f80, "max f32 overflows to Inf"],
		[0x7f7f7fff, 0x7f7f, "below the overflow tie"],
		[0x7f7f8000, 0x7f80, "overflow tie goes to even = Inf"],
		[0x7f800000, 0x7f80, "Inf"],
		[0xff800000, 0xff80, "-Inf"],
		[0x00000000, 0x0000, "+0"],
		[0x80000000, 0x8000, "-0"],
		[0x00000001, 0x0000, "smallest subnormal"],
		[0x00008000, 0x0000, "subnormal tie to even zero"],
		[0x00018000, 0x0002, "subnormal tie up"],
		[0x807fffff, 0x8080, "largest negative subnormal rounds to -min normal"],
	];
	test("torch's results on edge cases", () => {
		const out = u16(convert(f32Bytes(cases.map((c) => c[0])), "F32", "BF16", cases.length));
		cases.forEach(([, expected, what], i) => assert.equal(out[i], expected, `${what}: got 0x${out[i]!.toString(16)}`));
	});
	test("NaN stays a quiet NaN, whatever its payload", () => {
		const nans = [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f80ffff, 0xffc00000];
		const out = u16(convert(f32Bytes(nans), "F32", "BF16", nans.length));
		nans.forEach((bits, i) => {
			assert.ok(Number.isNaN(bf16Value(out[i]!)), `0x${bits.toString(16)}`);
			assert.ok(out[i]! & 0x40, "quiet bit");
			assert.equal(out[i]! & 0x8000, (bits >>> 16) & 0x8000, "sign kept");
		});
	});
	test("matches the reference on every high half with tie-shaped low halves", () => {
		const lows = [0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff];
		const bits = new Uint32Array(65536 * lows.length);
		for (let hi = 0; hi < 65536; hi++) lows.forEach((lo, j) => (bits[hi * lows.length + j] = ((hi << 16) | lo) >>> 0));
		const out = u16(convert(new Uint8Array(bits.buffer), "F32", "BF16", bits.length));
		for (let i = 0; i < bits.length; i++) {
			const x = f32FromBits(bits[i]!);
			const got = bf16Value(out[i]!);
			if (!(Number.isNaN(x) ? Number.isNaN(got) : Object.is(got, referenceBf16(x)))) assertSameValue(got, referenceBf16(x), `0x${bits[i]!.toString(16)}`);
		}
	});
	test("property: f32 -> bf16 -> f32 equals the reference rounding", () => {
		const bitsArb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }).map((hi) => ((hi << 16) | 0x8000) >>> 0));
		fc.assert(
			fc.property(fc.array(bitsArb, { minLength: 1, maxLength: 200 }), (bits) => {
				const back = toFloat32(convert(f32Bytes(bits), "F32", "BF16", bits.length), "BF16", bits.length);
				bits.forEach((b, i) => assertSameValue(back[i]!, referenceBf16(f32FromBits(b)), `0x${b.toString(16)}`));
			}),
			{ numRuns: 300 },
		);
	});
	test("property: Math.fround values round the same way", () => {
		fc.assert(
			fc.property(fc.double({ noNaN: true }), (x) => {
				const f = Math.fround(x);
				assertSameValue(toFloat32(fromFloat32(new Float32Array([f]), "BF16"), "BF16", 1)[0]!, referenceBf16(f), String(f));
			}),
			{ numRuns: 2000 },
		);
	});
});

describe("bf16 -> f32 and back", () => {
	test("every bf16 value widens exactly and narrows back to itself", () => {
		const all = new Uint16Array(65536).map((_, i) => i);
		const wide = toFloat32(new Uint8Array(all.buffer), "BF16", 65536);
		// Compare raw bits: reading a NaN into a JS number may canonicalise its payload once the JIT optimises.
		const wideBits = new Uint32Array(wide.buffer, wide.byteOffset, 65536);
		for (let h = 0; h < 65536; h++) {
			assert.equal(wideBits[h], (h << 16) >>> 0, `0x${h.toString(16)} widens bit for bit`);
		}
		const back = u16(fromFloat32(wide, "BF16"));
		for (let h = 0; h < 65536; h++) {
			const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
			assert.equal(back[h], isNaN ? h | 0x40 : h, `0x${h.toString(16)}`);
		}
	});
});

describe("f16", () => {
	test("every f16 value widens to the value the definition gives", () => {
		const all = new Uint16Array(65536).map((_, i) => i);
		const wide = toFloat32(new Uint8Array(all.buffer), "F16", 65536);
		for (let h = 0; h < 65536; h++) assertSameValue(wide[h]!, referenceF16Value(h), `0x${h.toString(16)}`);
	});
	test("every f16 value survives f16 -> f32 -> f16 (NaN stays quiet NaN)", () => {
		const all = new Uint16Array(65536).map((_, i) => i);
		const back = u16(fromFloat32(toFloat32(new Uint8Array(all.buffer), "F16", 65536), "F16"));
		for (let h = 0; h < 65536; h++) {
			const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
			assert.equal(back[h], isNaN ? h | 0x200 : h, `0x${h.toString(16)}`);
		}
	});
	test("edge cases: max, overflow, ties, subnormals", () => {
		const values = [65504, 65519.99, 65520, 1e6, -1e6, 2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -25, 2 ** -26, 1e-10, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 6.097555160522461e-5, -0];
		const expected = [0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x0400, 0x0001, 0x0000, 0x0001, 0x0002, 0x0000, 0x0000, 0x3c00, 0x3c02, 0x03ff, 0x8000];
		assert.deepEqual([...u16(fromFloat32(new Float32Array(values), "F16"))], expected);
	});
	test("property: f32 -> f16 -> f32 equals the reference rounding", () => {
		// Bias towards the f16 range, subnormals included, and exact ties (low 13 bits = 0x1000).
		const inRange = fc.integer({ min: 0x32000000, max: 0x47ffffff }).chain((a) => fc.boolean().map((neg) => (neg ? a | 0x80000000 : a) >>> 0));
		const ties = inRange.map((b) => ((b & ~0x1fff) | 0x1000) >>> 0);
		const bitsArb = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), inRange, ties);
		fc.assert(
			fc.property(fc.array(bitsArb, { minLength: 1, maxLength: 200 }), (bits) => {
				const back = toFloat32(convert(f32Bytes(bits), "F32", "F16", bits.length), "F16", bits.length);
				bits.forEach((b, i) => assertSameValue(back[i]!, referenceF16(f32FromBits(b)), `0x${b.toString(16)}`));
			}),
			{ numRuns: 300 },
		);
	});
	test("bf16 <-> f16 on every value matches rounding the exact value", () => {
		const all = new Uint16Array(65536).map((_, i) => i);
		const toF16 = u16(convert(new Uint8Array(all.buffer), "BF16", "F16", 65536));
		const toBf16 = u16(convert(new Uint8Array(all.buffer), "F16", "BF16", 65536));
		for (let h = 0; h < 65536; h++) {
			assertSameValue(referenceF16Value(toF16[h]!), referenceF16(bf16Value(h)), `bf16 0x${h.toString(16)}`);
			assertSameValue(bf16Value(toBf16[h]!), referenceBf16(referenceF16Value(h)), `f16 0x${h.toString(16)}`);
		}
	});
});

describe("convertDtype mechanics", () => {
	test("unaligned source and destination give the same bytes as aligned ones, across chunk boundaries", () => {
		const pairs: [DType, DType][] = [["F32", "BF16"], ["BF16", "F32"], ["F32", "F16"], ["F16", "F32"], ["BF16", "F16"], ["F16", "BF16"]];
		fc.assert(
			fc.property(fc.constantFrom(...pairs), fc.integer({ min: 0, max: 40000 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer(), (pair, count, srcShift, dstShift, seed) => {
				const [from, to] = pair;
				const inBytes = from === "F32" ? 4 : 2;
				const outBytes = to === "F32" ? 4 : 2;
				const source = new Uint8Array(count * inBytes);
				let x = seed | 1;
				for (let i = 0; i < source.length; i++) source[i] = (x = (x * 1103515245 + 12345) | 0) >>> 24;
				const expected = new Uint8Array(count * outBytes);
				convertDtype(source, from, expected, to, count);
				const srcHost = new Uint8Array(source.length + 8);
				srcHost.set(source, srcShift);
				const dstHost = new Uint8Array(expected.length + 8);
				convertDtype(srcHost.subarray(srcShift), from, dstHost.subarray(dstShift), to, count);
				assert.deepEqual(dstHost.subarray(dstShift, dstShift + expected.length), expected);
			}),
			{ numRuns: 60 },
		);
	});
	test("same dtype copies any dtype, including integers", () => {
		const src = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
		const dst = new Uint8Array(9);
		convertDtype(src.subarray(1), "I64", dst, "I64", 1);
		assert.deepEqual([...dst], [2, 3, 4, 5, 6, 7, 8, 9, 0]);
	});
	test("only count values are touched", () => {
		const dst = new Uint8Array(8).fill(0xee);
		convertDtype(new Uint8Array(new Float32Array([1, 2, 3]).buffer), "F32", dst, "BF16", 2);
		assert.deepEqual([...dst], [0x80, 0x3f, 0x00, 0x40, 0xee, 0xee, 0xee, 0xee]);
	});
	test("refuses unsupported pairs and short buffers", () => {
		assert.throws(() => convertDtype(new Uint8Array(8), "F64", new Uint8Array(4), "F32", 1), (e: unknown) => e instanceof MoeMergeError && /F64 to F32/.test(e.message));
		assert.throws(() => convertDtype(new Uint8Array(4), "I32", new Uint8Array(4), "F32", 1), MoeMergeError);
		assert.throws(() => convertDtype(new Uint8Array(3), "F32", new Uint8Array(2), "BF16", 1), RangeError);
		assert.throws(() => convertDtype(new Uint8Array(4), "F32", new Uint8Array(1), "BF16", 1), RangeError);
		assert.throws(() => toFloat32(new Uint8Array(8), "BF16", 4, new Float32Array(2)), RangeError);
	});
	test("toFloat32 and fromFloat32 use given buffers", () => {
		const out = new Float32Array(4);
		assert.equal(toFloat32(new Uint8Array([0x80, 0x3f, 0x00, 0xc0]), "BF16", 2, out), out);
		assert.deepEqual([...out], [1, -2, 0, 0]);
		const bytes = new Uint8Array(8);
		assert.equal(fromFloat32(new Float32Array([1, -2]), "F32", bytes), bytes);
		assert.deepEqual([...new Float32Array(bytes.buffer)], [1, -2]);
		assert.deepEqual([...fromFloat32(new Float32Array([1, 65504]), "F16")], [0x00, 0x3c, 0xff, 0x7b]);
	});
});
