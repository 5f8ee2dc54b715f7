/**
 * One range of an Encode job (GGUF tensor data): values of F32/F16/BF16 at `src` converted to a float
 * dtype or quantized into `dst`, all in the shared memory, with the kernels of kernels.wat and
 * quantize.wat. Run by the workers (a task each) and by the main thread for small jobs.
 */
import { DTYPE_CODE, type KernelExports, type QuantizeExports } from "./protocol.js";

/** What values can be encoded as: a float dtype (codes as DTYPE_CODE), or Q8_0 blocks. */
export const ENCODE_TARGET = { ...DTYPE_CODE, Q8_0: 8 } as const;
export type EncodeTarget = keyof typeof ENCODE_TARGET;

/** Bytes per value of the dtype codes. */
const VALUE_BYTES = [4, 2, 2];
export const Q8_0_VALUES = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** Bytes `count` values take as `target` (Q8_0: count is a multiple of 32). */
export function encodedBytes(target: number, count: number): number {
	return target === ENCODE_TARGET.Q8_0 ? (count / Q8_0_VALUES) * Q8_0_BLOCK_BYTES : count * VALUE_BYTES[target]!;
}

/**
 * Values [from, to) of the job (for Q8_0, whole blocks). `scratch`: PACK_SCRATCH_BYTES of the
 * caller's own (a worker's, or the main thread's), for Q8_0's groups and the last values.
 */
export function encodeRange(
	kernels: KernelExports, quantize: QuantizeExports, memory: WebAssembly.Memory,
	src: number, sdtype: number, dst: number, target: number, from: number, to: number, scratch: number,
): void {
	// In calls of at most PIECE values: V8 swaps in a kernel's optimized code between calls, never
	// during one, so a cold kernel runs baseline code for one piece, not for a whole task.
	for (let at = from; at < to; at += PIECE) encodePiece(kernels, quantize, memory, src, sdtype, dst, target, at, Math.min(to, at + PIECE), scratch);
}

/** Values per kernel call (a multiple of the Q8_0 block and of cvt_narrow's 8). */
const PIECE = 1 << 16;

function encodePiece(
	kernels: KernelExports, quantize: QuantizeExports, memory: WebAssembly.Memory,
	src: number, sdtype: number, dst: number, target: number, from: number, to: number, scratch: number,
): void {
	const inBytes = VALUE_BYTES[sdtype]!;
	const s = src + from * inBytes;
	const n = to - from;
	if (target === ENCODE_TARGET.Q8_0) {
		// quantize_q8_0 takes groups of 4 blocks (f16/bf16 widened as read), its first 512 bytes of
		// scratch for a group's f32 values; the last blocks mod 4 go through the scratch, padded to 4.
		const d = dst + encodedBytes(target, from);
		const blocks = n / Q8_0_VALUES;
		const body = blocks & ~3;
		quantize.quantize_q8_0(s, sdtype, d, body, scratch);
		const tail = blocks - body;
		if (tail === 0) return;
		const groupIn = scratch + 512, groupOut = groupIn + 4 * Q8_0_VALUES * 4;
		const bytes = new Uint8Array(memory.buffer);
		bytes.fill(0, groupIn, groupIn + 4 * Q8_0_VALUES * inBytes);
		bytes.copyWithin(groupIn, s + body * Q8_0_VALUES * inBytes, s + n * inBytes);
		quantize.quantize_q8_0(groupIn, sdtype, groupOut, 4, scratch);
		bytes.copyWithin(d + body * Q8_0_BLOCK_BYTES, groupOut, groupOut + tail * Q8_0_BLOCK_BYTES);
		return;
	}
	const d = dst + from * VALUE_BYTES[target]!;
	if (target === sdtype) {
		new Uint8Array(memory.buffer).copyWithin(d, s, s + n * inBytes);
		return;
	}
	if (target === DTYPE_CODE.F32) {
		(sdtype === DTYPE_CODE.F16 ? kernels.cvt_f16_f32 : kernels.cvt_bf16_f32)(s, d, n);
		return;
	}
	// cvt_narrow converts groups of 8: the last n mod 8 values go through the scratch, padded to 8
	// (32 bytes in at most, 16 out after them).
	const body = n & ~7;
	kernels.cvt_narrow(s, sdtype, d, target, body);
	const tail = n - body;
	if (tail === 0) return;
	const bytes = new Uint8Array(memory.buffer);
	bytes.fill(0, scratch, scratch + 32);
	bytes.copyWithin(scratch, s + body * inBytes, s + n * inBytes);
	kernels.cvt_narrow(scratch, sdtype, scratch + 32, target, 8);
	bytes.copyWithin(d + body * 2, scratch + 32, scratch + 32 + tail * 2);
}
