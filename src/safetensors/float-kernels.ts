/**
 * Element-wise float conversion loops over aligned typed-array views, rounding to nearest even like
 * torch. Bits are handled as Int32 (not Uint32) so V8 keeps every value in a 32-bit register; in the
 * non-NaN branches the rounding additions cannot overflow int32, and `>>> n` recovers the unsigned bits.
 *
 * Widening (bf16/f16 -> f32) is exact and copies NaN payloads bit for bit, as torch does. Narrowing
 * keeps the sign and top payload bits of a NaN and sets the quiet bit, so a NaN never becomes Inf.
 */

/** Converts `count` elements from aligned `src` bytes to aligned `dst` bytes. src and dst must not overlap. */
export type FloatKernel = (src: Uint8Array, dst: Uint8Array, count: number) => void;

// The small loops are unrolled 8x: V8 does not vectorise, and unrolling measured ~2x faster.

export const bf16ToF32: FloatKernel = (src, dst, count) => {
	const s = new Uint16Array(src.buffer, src.byteOffset, count);
	const d = new Int32Array(dst.buffer, dst.byteOffset, count);
	let i = 0;
	for (; i + 7 < count; i += 8) {
		d[i] = s[i]! << 16;
		d[i + 1] = s[i + 1]! << 16;
		d[i + 2] = s[i + 2]! << 16;
		d[i + 3] = s[i + 3]! << 16;
		d[i + 4] = s[i + 4]! << 16;
		d[i + 5] = s[i + 5]! << 16;
		d[i + 6] = s[i + 6]! << 16;
		d[i + 7] = s[i + 7]! << 16;
	}
	for (; i < count; i++) d[i] = s[i]! << 16;
};

export const f32ToBf16: FloatKernel = (src, dst, count) => {
	const s = new Int32Array(src.buffer, src.byteOffset, count);
	const d = new Uint16Array(dst.buffer, dst.byteOffset, count);
	let i = 0;
	for (; i + 7 < count; i += 8) {
		d[i] = bf16BitsFromF32Bits(s[i]!);
		d[i + 1] = bf16BitsFromF32Bits(s[i + 1]!);
		d[i + 2] = bf16BitsFromF32Bits(s[i + 2]!);
		d[i + 3] = bf16BitsFromF32Bits(s[i + 3]!);
		d[i + 4] = bf16BitsFromF32Bits(s[i + 4]!);
		d[i + 5] = bf16BitsFromF32Bits(s[i + 5]!);
		d[i + 6] = bf16BitsFromF32Bits(s[i + 6]!);
		d[i + 7] = bf16BitsFromF32Bits(s[i + 7]!);
	}
	for (; i < count; i++) d[i] = bf16BitsFromF32Bits(s[i]!);
};

export const f16ToF32: FloatKernel = (src, dst, count) => {
	const table = f16ToF32Table();
	const s = new Uint16Array(src.buffer, src.byteOffset, count);
	const d = new Int32Array(dst.buffer, dst.byteOffset, count);
	let i = 0;
	for (; i + 7 < count; i += 8) {
		d[i] = table[s[i]!]!;
		d[i + 1] = table[s[i + 1]!]!;
		d[i + 2] = table[s[i + 2]!]!;
		d[i + 3] = table[s[i + 3]!]!;
		d[i + 4] = table[s[i + 4]!]!;
		d[i + 5] = table[s[i + 5]!]!;
		d[i + 6] = table[s[i + 6]!]!;
		d[i + 7] = table[s[i + 7]!]!;
	}
	for (; i < count; i++) d[i] = table[s[i]!]!;
};

export const f32ToF16: FloatKernel = (src, dst, count) => {
	const s = new Int32Array(src.buffer, src.byteOffset, count);
	const d = new Uint16Array(dst.buffer, dst.byteOffset, count);
	// Not unrolled: the f16 rounding is too big for V8 to inline 8 times (unrolled ran 2.5x slower).
	for (let i = 0; i < count; i++) d[i] = f16BitsFromF32Bits(s[i]!);
};

/** Exact widening to f32 then one rounding, which equals rounding f16 straight to bf16. */
export const f16ToBf16: FloatKernel = (src, dst, count) => {
	const table = f16ToF32Table();
	const s = new Uint16Array(src.buffer, src.byteOffset, count);
	const d = new Uint16Array(dst.buffer, dst.byteOffset, count);
	let i = 0;
	for (; i + 7 < count; i += 8) {
		d[i] = bf16BitsFromF32Bits(table[s[i]!]!);
		d[i + 1] = bf16BitsFromF32Bits(table[s[i + 1]!]!);
		d[i + 2] = bf16BitsFromF32Bits(table[s[i + 2]!]!);
		d[i + 3] = bf16BitsFromF32Bits(table[s[i + 3]!]!);
		d[i + 4] = bf16BitsFromF32Bits(table[s[i + 4]!]!);
		d[i + 5] = bf16BitsFromF32Bits(table[s[i + 5]!]!);
		d[i + 6] = bf16BitsFromF32Bits(table[s[i + 6]!]!);
		d[i + 7] = bf16BitsFromF32Bits(table[s[i + 7]!]!);
	}
	for (; i < count; i++) d[i] = bf16BitsFromF32Bits(table[s[i]!]!);
};

/** Likewise through f32: bf16 widens exactly. */
export const bf16ToF16: FloatKernel = (src, dst, count) => {
	const s = new Uint16Array(src.buffer, src.byteOffset, count);
	const d = new Uint16Array(dst.buffer, dst.byteOffset, count);
	// Not unrolled: the f16 rounding is too big for V8 to inline 8 times (unrolled ran 2.5x slower).
	for (let i = 0; i < count; i++) d[i] = f16BitsFromF32Bits(s[i]! << 16);
};

/** f32 bits (as int32) -> bf16 bits, round to nearest even. */
export function bf16BitsFromF32Bits(u: number): number {
	if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x0040;
	// Adding 0x7fff plus the lowest kept bit rounds half to even; a carry may reach Inf, as it should.
	return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** f32 bits (as int32) -> f16 bits, round to nearest even, with f16 subnormals. */
export function f16BitsFromF32Bits(u: number): number {
	const sign = (u >>> 16) & 0x8000;
	const a = u & 0x7fffffff;
	if (a >= 0x38800000) {
		// >= 2^-14: a normal f16, unless it rounds past 65504.
		if (a < 0x477ff000) return sign | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
		if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x03ff);
		return sign | 0x7c00;
	}
	// Below 2^-25 everything rounds to zero (exactly 2^-25 is a tie that goes to even zero).
	if (a < 0x33000000) return sign;
	// Subnormal: the 24-bit significand shifted right so its unit is 2^-24, rounded to nearest even.
	const shift = 126 - (a >>> 23);
	const significand = (a & 0x007fffff) | 0x00800000;
	const kept = significand >>> shift;
	const rest = significand & ((1 << shift) - 1);
	const half = 1 << (shift - 1);
	return sign | (rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept);
}

/** f16 bits -> f32 bits, exact; a NaN keeps its payload. */
export function f32BitsFromF16Bits(h: number): number {
	const sign = (h & 0x8000) << 16;
	const exponent = (h >>> 10) & 0x1f;
	const mantissa = h & 0x03ff;
	if (exponent === 0x1f) return sign | 0x7f800000 | (mantissa << 13);
	if (exponent !== 0) return sign | ((exponent + 112) << 23) | (mantissa << 13);
	if (mantissa === 0) return sign;
	// Subnormal: normalise the mantissa into an f32 exponent.
	let e = 113;
	let m = mantissa;
	while ((m & 0x0400) === 0) {
		m <<= 1;
		e--;
	}
	return sign | (e << 23) | ((m & 0x03ff) << 13);
}

let f16Table: Int32Array | undefined;

/** All 65536 f16 -> f32 results (256 KiB), built on first use: a lookup beats the branches. */
function f16ToF32Table(): Int32Array {
	if (!f16Table) {
		f16Table = new Int32Array(65536);
		for (let h = 0; h < 65536; h++) f16Table[h] = f32BitsFromF16Bits(h);
	}
	return f16Table;
}
