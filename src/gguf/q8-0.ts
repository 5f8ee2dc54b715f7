/**
 * Q8_0, llama.cpp's 8-bit block type: blocks of 32 values stored as an f16 scale d = max|x| / 127 and
 * 32 int8 round(x * (1/d)), rounded half away from zero (C's roundf). Bit-identical to ggml's
 * quantize_row_q8_0_ref and gguf-py's gguf.quants.Q8_0 (checked against blocks gguf-py made, in
 * tests/gguf/). The SIMD kernel lives in src/kernels/quantize.wat; this is its plain twin.
 */
import { f16BitsFromF32Bits } from "../safetensors/float-kernels.js";
import { QUANTIZE_WASM_BASE64 } from "../kernels/generated/quantize-wasm.js";

export const Q8_0_BLOCK = 32;
export const Q8_0_BYTES = 34;

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

/** Floats per call into the kernel: 256 KiB in, 68 KiB out. */
const CHUNK_BLOCKS = 2048;

interface QuantizeKernel {
	memory: WebAssembly.Memory;
	quantize_q8_0(src: number, dst: number, blocks: number): void;
}

let kernel: QuantizeKernel | undefined;

function quantizeKernel(): QuantizeKernel {
	if (!kernel) {
		const module = new WebAssembly.Module(Buffer.from(QUANTIZE_WASM_BASE64, "base64"));
		const exports = new WebAssembly.Instance(module, {}).exports as unknown as QuantizeKernel;
		exports.memory.grow(Math.ceil((CHUNK_BLOCKS * (Q8_0_BLOCK * 4 + Q8_0_BYTES)) / 65536));
		kernel = exports;
	}
	return kernel;
}

/** The SIMD kernel: same bytes as quantizeQ8_0Reference. */
export function quantizeQ8_0(src: Float32Array, dst: Uint8Array): void {
	const k = quantizeKernel();
	const blocks = src.length / Q8_0_BLOCK;
	const outBase = CHUNK_BLOCKS * Q8_0_BLOCK * 4;
	for (let done = 0; done < blocks; done += CHUNK_BLOCKS) {
		const n = Math.min(CHUNK_BLOCKS, blocks - done);
		new Float32Array(k.memory.buffer, 0, n * Q8_0_BLOCK).set(src.subarray(done * Q8_0_BLOCK, (done + n) * Q8_0_BLOCK));
		k.quantize_q8_0(0, outBase, n);
		dst.set(new Uint8Array(k.memory.buffer, outBase, n * Q8_0_BYTES), done * Q8_0_BYTES);
	}
}
