/** Dtype conversion of raw little-endian tensor bytes between F32, F16 and BF16. */
import { endianness } from "node:os";
import { MoeMergeError } from "../errors.js";
import { dtypeBytes, type DType } from "./dtype.js";
import { bf16ToF16, bf16ToF32, f16ToBf16, f16ToF32, f32ToBf16, f32ToF16, type FloatKernel } from "./float-kernels.js";

// Typed-array views use the host byte order; safetensors data is little-endian.
if (endianness() !== "LE") throw new Error("moe-merge needs a little-endian CPU");

const KERNELS: Partial<Record<`${DType}->${DType}`, FloatKernel>> = {
	"BF16->F32": bf16ToF32,
	"F32->BF16": f32ToBf16,
	"F16->F32": f16ToF32,
	"F32->F16": f32ToF16,
	"F16->BF16": f16ToBf16,
	"BF16->F16": bf16ToF16,
};

/** Elements per pass when an unaligned buffer goes through the scratch buffers. */
const CHUNK_ELEMENTS = 16384;
let scratchIn: Uint8Array | undefined;
let scratchOut: Uint8Array | undefined;

/**
 * Element-wise conversion of `count` values; F32/F16/BF16 in any direction (same dtype = copy of any
 * dtype). Round to nearest even like torch; NaN stays NaN (quiet), Inf stays Inf, overflow -> Inf, f16
 * subnormals correct. `src` and `dst` must not overlap (except for a same-dtype copy).
 */
export function convertDtype(src: Uint8Array, srcDtype: DType, dst: Uint8Array, dstDtype: DType, count: number): void {
	const srcBytes = dtypeBytes(srcDtype);
	const dstBytes = dtypeBytes(dstDtype);
	if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`convertDtype: bad element count ${count}`);
	if (src.length < count * srcBytes) throw new RangeError(`convertDtype: source has ${src.length} bytes, ${count} ${srcDtype} values need ${count * srcBytes}`);
	if (dst.length < count * dstBytes) throw new RangeError(`convertDtype: destination has ${dst.length} bytes, ${count} ${dstDtype} values need ${count * dstBytes}`);
	if (srcDtype === dstDtype) {
		dst.set(src.subarray(0, count * srcBytes));
		return;
	}
	const kernel = KERNELS[`${srcDtype}->${dstDtype}`];
	if (!kernel) throw new MoeMergeError(`cannot convert tensor data from ${srcDtype} to ${dstDtype}: only F32, F16 and BF16 are supported`);

	const srcAligned = src.byteOffset % srcBytes === 0;
	const dstAligned = dst.byteOffset % dstBytes === 0;
	if (srcAligned && dstAligned) {
		kernel(src, dst, count);
		return;
	}
	convertThroughScratch(kernel, src, srcBytes, srcAligned, dst, dstBytes, dstAligned, count);
}

/** Typed-array views need aligned offsets, so unaligned sides are copied through scratch chunks. */
function convertThroughScratch(
	kernel: FloatKernel,
	src: Uint8Array, srcBytes: number, srcAligned: boolean,
	dst: Uint8Array, dstBytes: number, dstAligned: boolean,
	count: number,
): void {
	const scratchSrc = (scratchIn ??= new Uint8Array(CHUNK_ELEMENTS * 4));
	const scratchDst = (scratchOut ??= new Uint8Array(CHUNK_ELEMENTS * 4));
	for (let done = 0; done < count; done += CHUNK_ELEMENTS) {
		const n = Math.min(CHUNK_ELEMENTS, count - done);
		const srcPart = src.subarray(done * srcBytes, (done + n) * srcBytes);
		const dstPart = dst.subarray(done * dstBytes, (done + n) * dstBytes);
		let input = srcPart;
		if (!srcAligned) {
			scratchSrc.set(srcPart);
			input = scratchSrc;
		}
		kernel(input, dstAligned ? dstPart : scratchDst, n);
		if (!dstAligned) dstPart.set(scratchDst.subarray(0, n * dstBytes));
	}
}

/** Decodes `count` values of `dtype` (F32/F16/BF16) into `out` (allocated if absent). */
export function toFloat32(src: Uint8Array, dtype: DType, count: number, out?: Float32Array): Float32Array {
	const result = out ?? new Float32Array(count);
	if (result.length < count) throw new RangeError(`toFloat32: output holds ${result.length} values, ${count} needed`);
	convertDtype(src, dtype, new Uint8Array(result.buffer, result.byteOffset, count * 4), "F32", count);
	return result;
}

/** Encodes all of `src` as `dtype` (F32/F16/BF16) into `out` (allocated if absent); returns the bytes. */
export function fromFloat32(src: Float32Array, dtype: DType, out?: Uint8Array): Uint8Array {
	const bytes = src.length * dtypeBytes(dtype);
	const result = out ?? new Uint8Array(bytes);
	convertDtype(new Uint8Array(src.buffer, src.byteOffset, src.length * 4), "F32", result, dtype, src.length);
	return result;
}
