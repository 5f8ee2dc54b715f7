/**
 * The engine <-> worker protocol: a small SharedArrayBuffer of Int32 slots (the control block) that the
 * main thread fills with a job and the workers drain, synchronised with Atomics only (no messages per job).
 *
 *   main: writes KIND and the parameters, sets NEXT_TASK = 0, REMAINING = workers, ERROR = 0,
 *         increments SEQ and notifies it; then Atomics.waitAsync on REMAINING until it is 0.
 *   each worker: Atomics.wait on SEQ; on a new value, takes task indices with Atomics.add(NEXT_TASK, 1)
 *         until they run out, then decrements REMAINING; the last one notifies REMAINING.
 *
 * A worker that throws records the first error (ERROR = its index + 1, the message as UTF-8 from
 * ERROR_TEXT_BYTE) before decrementing, so the main thread sees it when the job completes.
 */

export const CONTROL_BYTES = 4096;

export const SEQ = 0;
export const NEXT_TASK = 1;
export const REMAINING = 2;
export const ERROR = 3;
export const KIND = 4;
export const TASKS = 5;
/** First of the job parameters (PARAMS .. PARAMS + 23). */
export const PARAMS = 8;
export const ERROR_TEXT_LENGTH = 31;
export const ERROR_TEXT_BYTE = 128;
export const ERROR_TEXT_MAX_BYTES = CONTROL_BYTES - ERROR_TEXT_BYTE;

export const enum JobKind {
	Quit = 1,
	/** params: a, b, c, bias, kp, ldc, rowBlocks, panels, mcb, panelsPerTask, rowBlocksPerTask, panelTasks */
	Gemm = 2,
	/** params: src, dtype, rows, k, kp, dst, panels (all), pbase, chunkPanels, panelsPerTask */
	PackB = 3,
	/** Testing (no tasks): the worker with index params[0] throws; params[1] = 1: it exits its thread instead. */
	Fail = 4,
	/**
	 * Gemm on a raw (row-major, unpacked) weight, packed piece by piece in each worker's scratch.
	 * params: a, src, dtype, n, k, c, bias, kp, ldc, rowBlocks, panels, mcb, panelsPerTask, rowBlocksPerTask, panelTasks
	 */
	GemmRaw = 5,
	/**
	 * The LoRA fold (lora_fold in kernels.wat), rowsPerTask rows per task.
	 * params: w, wdtype, c, ldc, cols, rowsPerTask, rows, scaleAt, out, odtype
	 */
	LoraFold = 6,
	/**
	 * GGUF tensor data: values converted to a float dtype or quantized (encodeRange in encode-range.ts),
	 * valuesPerTask values per task. params: src, sdtype, dst, target, count, valuesPerTask
	 */
	Encode = 7,
}

/** dtype codes of pack_b. */
export const DTYPE_CODE = { F32: 0, F16: 1, BF16: 2 } as const;

/** Per-worker scratch: 8 rows x 256 floats for pack_b and gemm_raw's conversion, then gemm_raw's piece of B (256 k x 8 floats). */
export const PACK_SCRATCH_BYTES = 2 * 8 * 256 * 4;
/** Where gemm_raw's piece starts in a worker's scratch. */
export const PIECE_OFFSET = 8 * 256 * 4;

/** What a worker receives as workerData. */
export interface WorkerInit {
	module: WebAssembly.Module;
	/** quantize.wat, instantiated on the same memory. */
	quantizeModule: WebAssembly.Module;
	memory: WebAssembly.Memory;
	control: SharedArrayBuffer;
	index: number;
	scratch: number;
}

/** The functions of kernels.wat (byte offsets into the shared memory). */
export interface KernelExports {
	cvt_bf16_f32(src: number, dst: number, n: number): void;
	cvt_f16_f32(src: number, dst: number, n: number): void;
	copy_f32(src: number, dst: number, n: number): void;
	pack_b(
		src: number, dtype: number, rows: number, k: number, kp: number,
		dst: number, panels: number, pbase: number, p0: number, p1: number, scratch: number,
	): void;
	pack_a(src: number, m: number, k: number, kp: number, dst: number): void;
	gemm(
		a: number, b: number, c: number, bias: number, kp: number, ldc: number,
		panels: number, rb0: number, rb1: number, p0: number, p1: number, mcb: number,
	): void;
	silu_gate(src: number, dst: number, rows: number, inter: number): void;
	lora_fold(w: number, wdtype: number, c: number, ldc: number, cols: number, r0: number, r1: number, scaleAt: number, out: number, odtype: number): void;
	cvt_narrow(src: number, sdtype: number, dst: number, ddtype: number, n: number): void;
	gemm_raw(
		a: number, src: number, dtype: number, n: number, k: number, c: number, bias: number, kp: number, ldc: number,
		rb0: number, rb1: number, p0: number, p1: number, mcb: number, scratch: number, piece: number,
	): void;
}

/** The functions of quantize.wat (byte offsets into the shared memory). */
export interface QuantizeExports {
	/** `blocks` (a multiple of 4) of 32 values of `sdtype` (dtype code) -> Q8_0; scratch: 512 bytes. */
	quantize_q8_0(src: number, sdtype: number, dst: number, blocks: number, scratch: number): void;
}
