/**
 * Q8_0, llama.cpp's 8-bit block type: blocks of 32 values stored as an f16 scale d = max|x| / 127 and
 * 32 int8 round(x * (1/d)), rounded half away from zero (C's roundf). Bit-identical to ggml's
 * quantize_row_q8_0_ref and gguf-py's gguf.quants.Q8_0 (checked against blocks gguf-py made, in
 * tests/gguf/). The SIMD kernel (src/kernels/quantize.wat, run by ComputeEngine.encode) writes the
 * tensor data; this is its plain twin, which the tests compare it with.
 */
import { Q8_0_BLOCK_BYTES, Q8_0_VALUES } from "../kernels/encode-range.js";
import { f16BitsFromF32Bits } from "../safetensors/float-kernels.js";

/** Values per block and bytes per block: the kernel's sizes (encode-range.ts), one definition. */
export const Q8_0_BLOCK = Q8_0_VALUES;
export const Q8_0_BYTES = Q8_0_BLOCK_BYTES;

/** Plain reference: quantizes src.length / 32 blocks of `src` into `dst`. */
export function quantizeQ8_0Reference(src: Float32Array, dst: Uint8Array): void {
	const blocks = src.length / Q8_0_BLOCK;
	const bits = new Int32Array(1);
	const asFloat = new Float32Array(bits.buffer);
	for (let b = 0; b < blocks; b++) {
		const x = src.subarray(b * Q8_0_BLOCK, (b + 1) * Q8_0_BLOCK);
		let amax = 0;
		for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(x[i]!));
		const d = Math.fround(amax / 127);
		const id = d === 0 ? 0 : Math.fround(1 / d);
		asFloat[0] = d;
		const out = b * Q8_0_BYTES;
		const h = f16BitsFromF32Bits(bits[0]!);
		dst[out] = h & 0xff;
		dst[out + 1] = h >>> 8;
		for (let i = 0; i < Q8_0_BLOCK; i++) {
			const v = Math.fround(x[i]! * id);
			const a = Math.abs(v);
			const f = Math.floor(a);
			const q = f + Math.floor(2 * (a - f));
			dst[out + 2 + i] = (v < 0 ? -q : q) & 0xff;
		}
	}
}
