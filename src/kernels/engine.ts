/**
 * ComputeEngine: f32 GEMM of Linear layers on worker threads sharing one WebAssembly.Memory.
 *
 * Weights are converted and packed once (packLinear, on the workers), or left as they were read into a
 * raw buffer (rawLinear) and packed piece by piece inside each product; `linear` then copies x into the
 * shared memory, packs it into 4-row blocks (main thread, wasm), runs the GEMM on the workers (dynamic
 * work split in column panels, and in rows when there are few panels), and copies y out. Operations
 * run one at a time in call order; the main thread only waits with Atomics.waitAsync, so the event
 * loop stays free. See kernels.wat for the data layouts and the micro-kernel.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { SharedHeap } from "./heap.js";
import {
	CONTROL_BYTES, DTYPE_CODE, ERROR, ERROR_TEXT_BYTE, ERROR_TEXT_LENGTH, JobKind, KIND, NEXT_TASK, PACK_SCRATCH_BYTES,
	PARAMS, PIECE_OFFSET, REMAINING, SEQ, TASKS, type KernelExports, type QuantizeExports, type WorkerInit,
} from "./protocol.js";
import { ENCODE_TARGET, type EncodeTarget, Q8_0_VALUES, encodeRange, encodedBytes } from "./encode-range.js";
import { enableRelaxedSimd, kernelsModule, quantizeModule, relaxedSimdSupported } from "./wasm-modules.js";

export interface KernelInfo {
	/** Worker threads doing the compute. */
	threads: number;
	/** Whether the multiply-adds are relaxed-SIMD FMAs (else f32x4.mul + f32x4.add). */
	relaxedSimd: boolean;
}

export interface ComputeEngineOptions {
	/** Worker threads; default os.availableParallelism(). */
	threads?: number;
	/**
	 * true: require relaxed SIMD (enabling V8's flag on Node 20; throws if impossible); false: plain SIMD;
	 * "auto" (default): relaxed SIMD when it is or can be enabled.
	 */
	relaxedSimd?: boolean | "auto";
}

export type LinearDType = "F32" | "F16" | "BF16";

/** A Linear weight converted to f32 and packed in the engine's shared memory. */
export interface PackedLinear {
	/** Output features (N). */
	readonly rows: number;
	/** Input features (K). */
	readonly cols: number;
}

/** Shared memory for a matrix's raw bytes (see ComputeEngine.rawBuffer). */
export interface RawBuffer {
	/** A view into the engine's shared memory; read weights straight into it. */
	readonly bytes: Uint8Array;
	/** Gives the memory back, after the operations already queued (a pack of these bytes); resolves once it is free. */
	release(): Promise<void>;
}

export interface LinearOptions {
	/** bias[N], added to every row of y. */
	bias?: Float32Array;
	/** Where to write y (at least M*N values); a new array otherwise. */
	out?: Float32Array;
}

/** What foldLinear folds the product into (see there). */
export interface FoldOptions {
	/** w [m, N], little-endian F32 or BF16. */
	base: Uint8Array;
	baseDtype: FoldDType;
	scale: number;
	/** Receives [m, N] values of outDtype. */
	out: Uint8Array;
	outDtype: FoldDType;
}

export type FoldDType = "F32" | "BF16";

const FOLD_DTYPE_BYTES: Record<string, number | undefined> = { F32: 4, BF16: 2 };

/** GEMM blocking (see gemm in kernels.wat; the k block, 256, is part of the packed layout): 4-row blocks per row slab. */
const MC_BLOCKS = 64;
/** Weight bytes copied into shared memory and packed per job. */
const PACK_CHUNK_BYTES = 32 << 20;
const BYTES_PER_ELEMENT: Record<LinearDType, number> = { F32: 4, F16: 2, BF16: 2 };
/** Encode jobs of fewer values run on the main thread: waking the workers costs more. */
const ENCODE_ON_MAIN_THREAD = 1 << 16;

/** A raw buffer's memory, given back once the buffer is released and no rawLinear weight uses it. */
interface RawBlock {
	readonly offset: number;
	released: boolean;
	/** rawLinear weights not freed yet. */
	users: number;
	freed: boolean;
}

class Packed implements PackedLinear {
	freed = false;
	constructor(
		readonly engine: ComputeEngine,
		readonly rows: number,
		readonly cols: number,
		/** Byte offset of panel 0, or (raw) of the row-major weight. */
		readonly offset: number,
		/** cols rounded up to 4. */
		readonly kp: number,
		/** ceil(rows / 8) panels of 8 columns of y. */
		readonly panels: number,
		readonly bytes: number,
		/** Set for a rawLinear weight: the raw buffer it lives in, and its dtype. */
		readonly raw?: { block: RawBlock; dtype: LinearDType },
	) {}
}

/** The address alignment O_DIRECT needs of a buffer (a page). */
const STAGING_ALIGNMENT = 4096;

/** Atomics.waitAsync (ES2024; the project's lib is ES2023). */
const waitAsync = (Atomics as unknown as {
	waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

let failureForTesting: (engine: ComputeEngine, index: number, exit: boolean) => Promise<void>;

/** Testing only: makes worker `index` throw in a job, or exit its thread (`exit`); resolves/rejects like a job. */
export function injectWorkerFailure(engine: ComputeEngine, index: number, exit: boolean): Promise<void> {
	return failureForTesting(engine, index, exit);
}

export class ComputeEngine {
	readonly info: KernelInfo;
	readonly #memory: WebAssembly.Memory;
	readonly #heap: SharedHeap;
	readonly #kernels: KernelExports;
	readonly #quantize: QuantizeExports;
	/** The main thread's scratch (PACK_SCRATCH_BYTES), for encode jobs small enough to run here. */
	readonly #scratch: number;
	readonly #workers: Worker[];
	readonly #workerExits: Promise<void>[];
	readonly #control: Int32Array;
	readonly #controlBytes: Uint8Array;
	/** SharedArrayBuffers of `#memory` handed out in views (each grow gives a new one; all share the bytes). */
	readonly #sharedBuffers = new WeakSet<ArrayBufferLike>();
	/** The memory behind each RawBuffer handed out. */
	readonly #rawBlocks = new WeakMap<RawBuffer, RawBlock>();
	/** Tail of the queue of operations (never rejects). */
	#queue: Promise<unknown> = Promise.resolve();
	#failure: Error | undefined;
	#closing: Promise<void> | undefined;

	private constructor(
		info: KernelInfo, memory: WebAssembly.Memory, heap: SharedHeap, kernels: KernelExports, quantize: QuantizeExports,
		scratch: number, workers: Worker[], control: SharedArrayBuffer,
	) {
		this.info = info;
		this.#memory = memory;
		this.#heap = heap;
		this.#kernels = kernels;
		this.#quantize = quantize;
		this.#scratch = scratch;
		this.#workers = workers;
		this.#control = new Int32Array(control);
		this.#controlBytes = new Uint8Array(control);
		this.#workerExits = workers.map((worker, index) => new Promise<void>((resolve) => {
			worker.on("error", (error) => this.#fail(new Error(`ComputeEngine worker ${index} failed: ${error.message}`, { cause: error })));
			worker.on("exit", (code) => {
				if (!this.#closing) this.#fail(new Error(`ComputeEngine worker ${index} exited unexpectedly (exit code ${code})`));
				resolve();
			});
		}));
	}

	/** Starts `threads` workers (default: os.availableParallelism()) sharing one WebAssembly.Memory. */
	static async create(options: ComputeEngineOptions = {}): Promise<ComputeEngine> {
		const threads = options.threads ?? availableParallelism();
		if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`ComputeEngine: threads must be an integer from 1 to 256, got ${threads}`);
		const relaxedSimd = resolveRelaxedSimd(options.relaxedSimd ?? "auto");
		const [module, quantizeCode] = await Promise.all([kernelsModule(relaxedSimd), quantizeModule()]);
		const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
		const heap = new SharedHeap(memory);
		// One scratch per worker, and the main thread's last.
		const scratch = heap.alloc((threads + 1) * PACK_SCRATCH_BYTES);
		const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
		const quantize = new WebAssembly.Instance(quantizeCode, { env: { memory } }).exports as unknown as QuantizeExports;
		const control = new SharedArrayBuffer(CONTROL_BYTES);

		const workers: Worker[] = [];
		const started: Promise<void>[] = [];
		for (let index = 0; index < threads; index++) {
			const workerData: WorkerInit = { module, quantizeModule: quantizeCode, memory, control, index, scratch: scratch + index * PACK_SCRATCH_BYTES };
			// execArgv: [] because some of the process's options break workers (node --input-type=module -e ...
			// makes them fail to load); V8 flags such as --experimental-wasm-relaxed-simd are process-wide anyway.
			const worker = new Worker(new URL("./worker.js", import.meta.url), { workerData, execArgv: [], name: `moe-merge-kernels-${index}` });
			workers.push(worker);
			started.push(new Promise<void>((resolve, reject) => {
				worker.once("message", () => resolve());
				worker.once("error", reject);
				worker.once("exit", (code) => reject(new Error(`exited with code ${code}`)));
			}));
		}
		try {
			// While the workers load: get V8 to optimize the kernels (see warmUp). Compiled code is shared
			// by every instance of the module, the workers' included.
			warmUp(kernels, quantize, heap, scratch);
			await Promise.all(started);
		} catch (error) {
			await Promise.all(workers.map((worker) => worker.terminate()));
			throw new Error(`ComputeEngine: a worker could not start: ${(error as Error).message}`, { cause: error });
		}
		for (const worker of workers) {
			worker.removeAllListeners();
			// Idle workers do not keep the process alive; they are ref'ed while a job runs.
			worker.unref();
		}
		return new ComputeEngine({ threads, relaxedSimd }, memory, heap, kernels, quantize, scratch + threads * PACK_SCRATCH_BYTES, workers, control);
	}

	/**
	 * Converts a Linear weight [rows = N, cols = K] given as raw little-endian bytes of `dtype` to f32
	 * and packs it into shared memory (on the workers). Free it with `free` when it is no longer used.
	 */
	packLinear(bytes: Uint8Array, dtype: LinearDType, rows: number, cols: number): Promise<PackedLinear> {
		// Bytes already in the shared memory (a rawBuffer) are converted where they are, without a copy.
		const inPlace = this.#sharedBuffers.has(bytes.buffer) ? bytes.byteOffset : 0;
		const bpe = Object.hasOwn(BYTES_PER_ELEMENT, dtype) ? BYTES_PER_ELEMENT[dtype] : undefined;
		if (bpe === undefined) return Promise.reject(new TypeError(`packLinear: dtype must be F32, F16 or BF16, got ${String(dtype)}`));
		if (!isPositiveInteger(rows) || !isPositiveInteger(cols)) return Promise.reject(new RangeError(`packLinear: bad shape [${rows}, ${cols}]`));
		if (!(bytes instanceof Uint8Array) || bytes.byteLength !== rows * cols * bpe) {
			return Promise.reject(new RangeError(`packLinear: a [${rows}, ${cols}] ${dtype} weight has ${rows * cols * bpe} bytes, got ${bytes?.byteLength}`));
		}
		return this.#enqueue(async () => {
			const kp = roundUp(cols, 4);
			const panels = Math.ceil(rows / 8);
			const packedBytes = panels * kp * 32;
			const offset = this.#heap.alloc(packedBytes);
			const rowBytes = cols * bpe;
			const chunkRows = inPlace ? roundUp(rows, 8) : Math.min(roundUp(rows, 8), Math.max(8, Math.floor(PACK_CHUNK_BYTES / rowBytes / 8) * 8));
			let staging = 0;
			try {
				if (!inPlace) staging = this.#heap.alloc(chunkRows * rowBytes);
				for (let row0 = 0; row0 < rows; row0 += chunkRows) {
					const chunk = Math.min(chunkRows, rows - row0);
					if (inPlace) staging = inPlace + row0 * rowBytes;
					else new Uint8Array(this.#memory.buffer, staging, chunk * rowBytes).set(bytes.subarray(row0 * rowBytes, (row0 + chunk) * rowBytes));
					const chunkPanels = Math.ceil(chunk / 8);
					const panelsPerTask = Math.max(1, Math.ceil(chunkPanels / (4 * this.info.threads)));
					await this.#run(JobKind.PackB, Math.ceil(chunkPanels / panelsPerTask), [
						staging, DTYPE_CODE[dtype], chunk, cols, kp, offset, panels, row0 / 8, chunkPanels, panelsPerTask,
					]);
				}
			} catch (error) {
				this.#heap.free(offset);
				throw error;
			} finally {
				if (staging && !inPlace) this.#heap.free(staging);
			}
			return new Packed(this, rows, cols, offset, kp, panels, packedBytes);
		});
	}

	/**
	 * A Linear weight [rows = N, cols = K] of `dtype` left where it was read, in a raw buffer of this
	 * engine: each product packs it one 8 KiB piece at a time into the worker's cache, just before using
	 * it (the same packed values and sums as packLinear's, so the same results bit for bit). No packing
	 * pass, no packed copy: for a weight used by one product (the forward pass), that saves a pass that
	 * writes twice its bytes as f32 and the products reading them back. Each product re-packs the
	 * pieces it uses, so a weight multiplied many times is better packed once with packLinear.
	 * The raw bytes must not change until the weight is freed; the buffer's memory comes back once the
	 * buffer is released and the weight freed.
	 */
	rawLinear(raw: RawBuffer, dtype: LinearDType, rows: number, cols: number): Promise<PackedLinear> {
		const block = this.#rawBlocks.get(raw);
		if (!block) return Promise.reject(new TypeError("rawLinear: the RawBuffer does not come from this ComputeEngine's rawBuffer"));
		if (block.released) return Promise.reject(new Error("rawLinear: the RawBuffer was released"));
		const bpe = Object.hasOwn(BYTES_PER_ELEMENT, dtype) ? BYTES_PER_ELEMENT[dtype] : undefined;
		if (bpe === undefined) return Promise.reject(new TypeError(`rawLinear: dtype must be F32, F16 or BF16, got ${String(dtype)}`));
		if (!isPositiveInteger(rows) || !isPositiveInteger(cols)) return Promise.reject(new RangeError(`rawLinear: bad shape [${rows}, ${cols}]`));
		if (raw.bytes.byteLength !== rows * cols * bpe) {
			return Promise.reject(new RangeError(`rawLinear: a [${rows}, ${cols}] ${dtype} weight has ${rows * cols * bpe} bytes, the buffer ${raw.bytes.byteLength}`));
		}
		block.users++;
		return Promise.resolve(new Packed(this, rows, cols, block.offset, roundUp(cols, 4), Math.ceil(rows / 8), 0, { block, dtype }));
	}

	/** y[M, N] = x[M, K] · Wᵀ (+ bias[N]); x holds M*K values. Resolves to `out` or a new array. */
	linear(x: Float32Array, m: number, w: PackedLinear, options: LinearOptions = {}): Promise<Float32Array> {
		let packed: Packed;
		try {
			packed = this.#own(w, "linear");
		} catch (error) {
			return Promise.reject(error);
		}
		const { rows: n, cols: k } = packed;
		const { bias, out } = options;
		if (!Number.isInteger(m) || m < 0) return Promise.reject(new RangeError(`linear: bad row count ${m}`));
		if (!(x instanceof Float32Array) || x.length !== m * k) return Promise.reject(new RangeError(`linear: x must be a Float32Array of ${m} x ${k} = ${m * k} values, got ${x?.length}`));
		if (bias !== undefined && (!(bias instanceof Float32Array) || bias.length !== n)) return Promise.reject(new RangeError(`linear: bias must be a Float32Array of ${n} values, got ${bias?.length}`));
		if (out !== undefined && (!(out instanceof Float32Array) || out.length < m * n)) return Promise.reject(new RangeError(`linear: out must be a Float32Array of at least ${m} x ${n} = ${m * n} values, got ${out?.length}`));
		const y = out ?? new Float32Array(m * n);
		if (m === 0) return Promise.resolve(y);

		// Runs even if `w` is freed meanwhile: the memory is released after the operations queued before free().
		return this.#enqueue(async () => {
			const { at, cAt, ldc } = await this.#product(packed, x, m, bias, 0);
			try {
				const row = ldc / 4;
				const c = new Float32Array(this.#memory.buffer, cAt, roundUp(m, 4) * row);
				if (n === row) y.set(c.subarray(0, m * n));
				else for (let r = 0; r < m; r++) y.set(c.subarray(r * row, r * row + n), r * n);
			} finally {
				this.#heap.free(at);
			}
			return y;
		});
	}

	/**
	 * The LoRA fold of a block of rows, fused: out[m, N] = w + scale · (x[m, K] · Wᵀ), each value
	 * computed as JavaScript computes `w + scale * d` into a Float32Array (f64 multiply and add, one
	 * rounding to f32), then rounded to bf16 (nearest even) when `outDtype` is BF16: the same bits as
	 * linear() followed by that loop and the conversion, without the f32 rows leaving the shared
	 * memory. `base` holds w [m, N] (F32 or BF16 bytes); the product and the fold run on the workers.
	 */
	foldLinear(x: Float32Array, m: number, w: PackedLinear, fold: FoldOptions): Promise<void> {
		let packed: Packed;
		try {
			packed = this.#own(w, "foldLinear");
		} catch (error) {
			return Promise.reject(error);
		}
		const { rows: n, cols: k } = packed;
		const { base, baseDtype, scale, out, outDtype } = fold;
		const inBytes = FOLD_DTYPE_BYTES[baseDtype];
		const outBytes = FOLD_DTYPE_BYTES[outDtype];
		if (!Number.isInteger(m) || m <= 0) return Promise.reject(new RangeError(`foldLinear: bad row count ${m}`));
		if (!(x instanceof Float32Array) || x.length !== m * k) return Promise.reject(new RangeError(`foldLinear: x must be a Float32Array of ${m} x ${k} = ${m * k} values, got ${x?.length}`));
		if (!inBytes || !outBytes) return Promise.reject(new TypeError(`foldLinear: dtypes must be F32 or BF16, got ${baseDtype} and ${outDtype}`));
		if (base.byteLength !== m * n * inBytes) return Promise.reject(new RangeError(`foldLinear: base must hold ${m} x ${n} ${baseDtype} values, got ${base.byteLength} bytes`));
		if (out.byteLength !== m * n * outBytes) return Promise.reject(new RangeError(`foldLinear: out must hold ${m} x ${n} ${outDtype} values, got ${out.byteLength} bytes`));
		if (!Number.isFinite(scale)) return Promise.reject(new RangeError(`foldLinear: bad scale ${scale}`));
		return this.#enqueue(async () => {
			const wBytes = roundUp(m * n * inBytes, 64);
			const oBytes = roundUp(m * n * outBytes, 64);
			const { at, cAt, ldc, extraAt } = await this.#product(packed, x, m, undefined, 64 + wBytes + oBytes);
			try {
				const scaleAt = extraAt, wAt = extraAt + 64, oAt = wAt + wBytes;
				const buffer = this.#memory.buffer;
				new Float64Array(buffer, scaleAt, 1)[0] = scale;
				new Uint8Array(buffer, wAt, base.byteLength).set(base);
				const rowsPerTask = Math.max(1, Math.ceil(m / (4 * this.info.threads)));
				await this.#run(JobKind.LoraFold, Math.ceil(m / rowsPerTask), [wAt, DTYPE_CODE[baseDtype], cAt, ldc, n, rowsPerTask, m, scaleAt, oAt, DTYPE_CODE[outDtype]]);
				out.set(new Uint8Array(this.#memory.buffer, oAt, out.byteLength));
			} finally {
				this.#heap.free(at);
			}
		});
	}

	/**
	 * C = x · Wᵀ (+ bias) on the workers, in one workspace of the shared memory holding x, x packed,
	 * C (padded: rows of ldc bytes) and `extra` bytes for the caller; who frees `at` when done.
	 */
	async #product(packed: Packed, x: Float32Array, m: number, bias: Float32Array | undefined, extra: number): Promise<{ at: number; cAt: number; ldc: number; extraAt: number }> {
		const { rows: n, cols: k, kp, panels } = packed;
		const mp = roundUp(m, 4);
		const ldc = panels * 32;
		const xBytes = roundUp(m * k * 4, 64);
		const aBytes = roundUp(mp * kp * 4, 64);
		const cBytes = roundUp(mp * ldc, 64);
		const biasBytes = bias ? roundUp(panels * 32, 64) : 0;
		const xAt = this.#heap.alloc(xBytes + aBytes + cBytes + biasBytes + extra);
		const aAt = xAt + xBytes, cAt = aAt + aBytes, biasAt = bias ? cAt + cBytes : 0;
		try {
			const buffer = this.#memory.buffer;
			new Float32Array(buffer, xAt, m * k).set(x);
			this.#kernels.pack_a(xAt, m, k, kp, aAt);
			if (bias) {
				const padded = new Float32Array(buffer, biasAt, panels * 8);
				padded.set(bias);
				padded.fill(0, n);
			}
			const rowBlocks = mp / 4;
			const split = splitGemm(rowBlocks, panels, this.info.threads);
			const tasks = [split.panelsPerTask, split.rowBlocksPerTask, split.panelTasks];
			if (packed.raw) {
				await this.#run(JobKind.GemmRaw, split.tasks, [
					aAt, packed.offset, DTYPE_CODE[packed.raw.dtype], n, k, cAt, biasAt, kp, ldc, rowBlocks, panels, MC_BLOCKS, ...tasks,
				]);
			} else {
				await this.#run(JobKind.Gemm, split.tasks, [aAt, packed.offset, cAt, biasAt, kp, ldc, rowBlocks, panels, MC_BLOCKS, ...tasks]);
			}
		} catch (error) {
			this.#heap.free(xAt);
			throw error;
		}
		return { at: xAt, cAt, ldc, extraAt: xAt + xBytes + aBytes + cBytes + biasBytes };
	}

	/**
	 * The gated MLP's activation: act[r, i] = silu(gate[r, i]) · up[r, i] for `rows` rows of `gateUp`
	 * laid out [gate | up] (2 · intermediate values each), in f32 like torch's SiLU (a SIMD exp within
	 * ~2 ulp; see silu4 in kernels.wat). On the main thread: a few ms for a 7B layer's 235 tokens,
	 * ~8x less than the same loop in JavaScript with Math.exp.
	 */
	siluGate(gateUp: Float32Array, act: Float32Array, rows: number, intermediate: number): Promise<void> {
		if (!isPositiveInteger(intermediate) || !Number.isSafeInteger(rows) || rows < 0) return Promise.reject(new RangeError(`siluGate: bad shape [${rows}, ${intermediate}]`));
		const values = rows * intermediate;
		if (!(gateUp instanceof Float32Array) || gateUp.length < 2 * values) return Promise.reject(new RangeError(`siluGate: gateUp must be a Float32Array of at least ${2 * values} values, got ${gateUp?.length}`));
		if (!(act instanceof Float32Array) || act.length < values) return Promise.reject(new RangeError(`siluGate: act must be a Float32Array of at least ${values} values, got ${act?.length}`));
		if (rows === 0) return Promise.resolve();
		return this.#enqueue(async () => {
			const inAt = this.#heap.alloc(8 * values + 4 * values);
			const outAt = inAt + 8 * values;
			try {
				new Float32Array(this.#memory.buffer, inAt, 2 * values).set(gateUp.subarray(0, 2 * values));
				this.#kernels.silu_gate(inAt, outAt, rows, intermediate);
				act.set(new Float32Array(this.#memory.buffer, outAt, values));
			} finally {
				this.#heap.free(inAt);
			}
		});
	}

	/**
	 * GGUF tensor data: `count` values of `srcDtype` (little-endian bytes `src`) encoded as `target` into
	 * `dst` (a float dtype, rounded to nearest even like torch; or Q8_0 blocks, count a multiple of 32),
	 * the same bytes as the plain references (convertDtype, quantizeQ8_0Reference). On the workers (on
	 * this thread below 64K values); `src` and `dst` already in the shared memory (rawBuffer views) are
	 * used where they are, others are copied in and out. They must not overlap.
	 */
	encode(src: Uint8Array, srcDtype: LinearDType, target: EncodeTarget, count: number, dst: Uint8Array): Promise<void> {
		const bpe = Object.hasOwn(BYTES_PER_ELEMENT, srcDtype) ? BYTES_PER_ELEMENT[srcDtype] : undefined;
		if (bpe === undefined) return Promise.reject(new TypeError(`encode: dtype must be F32, F16 or BF16, got ${String(srcDtype)}`));
		if (!Object.hasOwn(ENCODE_TARGET, target)) return Promise.reject(new TypeError(`encode: target must be F32, F16, BF16 or Q8_0, got ${String(target)}`));
		const code = ENCODE_TARGET[target];
		if (!Number.isSafeInteger(count) || count < 0 || (code === ENCODE_TARGET.Q8_0 && count % Q8_0_VALUES !== 0)) return Promise.reject(new RangeError(`encode: bad count ${count} for ${target}`));
		const outBytes = encodedBytes(code, count);
		if (src.byteLength < count * bpe || dst.byteLength < outBytes) {
			return Promise.reject(new RangeError(`encode: ${count} ${srcDtype} values as ${target} need ${count * bpe} bytes in and ${outBytes} out, got ${src.byteLength} and ${dst.byteLength}`));
		}
		if (count === 0) return Promise.resolve();
		return this.#enqueue(async () => {
			const srcShared = this.#sharedBuffers.has(src.buffer);
			const dstShared = this.#sharedBuffers.has(dst.buffer);
			const inBytes = srcShared ? 0 : roundUp(count * bpe, 64);
			const at = inBytes + (dstShared ? 0 : outBytes) > 0 ? this.#heap.alloc(inBytes + (dstShared ? 0 : outBytes)) : 0;
			try {
				const srcAt = srcShared ? src.byteOffset : at;
				const dstAt = dstShared ? dst.byteOffset : at + inBytes;
				if (!srcShared) new Uint8Array(this.#memory.buffer, srcAt, count * bpe).set(src.subarray(0, count * bpe));
				const sdtype = DTYPE_CODE[srcDtype];
				if (count < ENCODE_ON_MAIN_THREAD) {
					encodeRange(this.#kernels, this.#quantize, this.#memory, srcAt, sdtype, dstAt, code, 0, count, this.#scratch);
				} else {
					// Tasks of whole 4096-value pieces (whole Q8_0 groups of blocks: only the job's last task has a tail), about 4 per worker.
					const piece = PACK_SCRATCH_BYTES / 4;
					const perTask = roundUp(Math.ceil(count / (4 * this.info.threads)), piece);
					await this.#run(JobKind.Encode, Math.ceil(count / perTask), [srcAt, sdtype, dstAt, code, count, perTask]);
				}
				if (!dstShared) dst.set(new Uint8Array(this.#memory.buffer, dstAt, outBytes));
			} finally {
				if (at) this.#heap.free(at);
			}
		});
	}

	/**
	 * `bytes` of shared memory to read a raw weight into (from a file, say) before packLinear: packing
	 * then converts it in place, with no copy through a JS buffer. Taken at once, not queued.
	 */
	rawBuffer(bytes: number): RawBuffer {
		if (this.#closing) throw new Error("ComputeEngine is closed");
		const offset = this.#heap.alloc(bytes);
		const buffer = this.#memory.buffer;
		this.#sharedBuffers.add(buffer);
		const block: RawBlock = { offset, released: false, users: 0, freed: false };
		let released: Promise<void> | undefined;
		const raw: RawBuffer = {
			bytes: new Uint8Array(buffer, offset, bytes),
			release: () => {
				if (!released) {
					block.released = true;
					released = this.#queue.then(() => this.#freeRawIfUnused(block));
					this.#queue = released;
				}
				return released;
			},
		};
		this.#rawBlocks.set(raw, block);
		return raw;
	}

	/**
	 * `count` buffers of `bytes` each (a multiple of 4096), each starting on a 4096-byte boundary of the
	 * shared memory: staging buffers an O_DIRECT file writer takes (SequentialFileWriter's `buffers`), so
	 * that encode() writes into them in place and the disk reads them from there. One rawBuffer underneath.
	 */
	stagingBuffers(count: number, bytes: number): { buffers: Uint8Array[]; release(): Promise<void> } {
		if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(bytes) || bytes <= 0 || bytes % STAGING_ALIGNMENT !== 0) {
			throw new RangeError(`stagingBuffers: ${count} buffers of ${bytes} bytes (a positive multiple of ${STAGING_ALIGNMENT})`);
		}
		const raw = this.rawBuffer(count * bytes + STAGING_ALIGNMENT);
		// The memory itself starts on a page: an offset that is a multiple of 4096 is an aligned address.
		const start = (STAGING_ALIGNMENT - (raw.bytes.byteOffset % STAGING_ALIGNMENT)) % STAGING_ALIGNMENT;
		const buffers = [...Array(count).keys()].map((i) => raw.bytes.subarray(start + i * bytes, start + (i + 1) * bytes));
		return { buffers, release: () => raw.release() };
	}

	#freeRawIfUnused(block: RawBlock): void {
		if (block.released && block.users === 0 && !block.freed) {
			block.freed = true;
			this.#heap.free(block.offset);
		}
	}

	/** Frees a packed weight's shared memory for reuse (after the operations already queued). */
	free(w: PackedLinear): void {
		const packed = this.#own(w, "free");
		packed.freed = true;
		const raw = packed.raw;
		this.#queue = this.#queue.then(() => {
			if (!raw) return this.#heap.free(packed.offset);
			raw.block.users--;
			this.#freeRawIfUnused(raw.block);
		});
	}

	/** Waits for queued operations, then stops the workers. Further calls reject. */
	close(): Promise<void> {
		this.#closing ??= (async () => {
			await this.#queue;
			// Keep the process alive until the workers are gone (they are unref'ed while idle).
			for (const worker of this.#workers) worker.ref();
			if (!this.#failure) {
				this.#control[KIND] = JobKind.Quit;
				Atomics.add(this.#control, SEQ, 1);
				Atomics.notify(this.#control, SEQ);
			}
			const timeout = new Promise<"timeout">((resolve) => setTimeout(resolve, 2000, "timeout").unref());
			if ((await Promise.race([Promise.all(this.#workerExits), timeout])) === "timeout") {
				await Promise.all(this.#workers.map((worker) => worker.terminate()));
			}
		})();
		return this.#closing;
	}

	/** Bytes of shared memory: in use (packed weights), and the memory's size. */
	get memoryUsage(): { usedBytes: number; memoryBytes: number } {
		return { usedBytes: this.#heap.usedBytes, memoryBytes: this.#heap.memoryBytes };
	}

	#own(w: PackedLinear, what: string): Packed {
		if (!(w instanceof Packed) || w.engine !== this) throw new TypeError(`${what}: the PackedLinear does not come from this ComputeEngine's packLinear`);
		if (w.freed) throw new Error(`${what}: the PackedLinear was freed`);
		return w;
	}

	#enqueue<T>(operation: () => Promise<T>): Promise<T> {
		if (this.#closing) return Promise.reject(new Error("ComputeEngine is closed"));
		const result = this.#queue.then(() => {
			if (this.#failure) throw this.#failure;
			return operation();
		});
		this.#queue = result.catch(() => undefined);
		return result;
	}

	/** Runs one job on all workers and waits for it; rejects with the first worker error. */
	async #run(kind: JobKind, tasks: number, params: number[]): Promise<void> {
		const control = this.#control;
		control[KIND] = kind;
		control[TASKS] = tasks;
		for (let i = 0; i < params.length; i++) control[PARAMS + i] = params[i];
		control[ERROR] = 0;
		control[NEXT_TASK] = 0;
		control[REMAINING] = this.#workers.length;
		for (const worker of this.#workers) worker.ref();
		try {
			Atomics.add(control, SEQ, 1);
			Atomics.notify(control, SEQ);
			for (;;) {
				const remaining = Atomics.load(control, REMAINING);
				if (remaining === 0 || this.#failure) break;
				const wait = waitAsync(control, REMAINING, remaining);
				if (wait.async) await wait.value;
			}
		} finally {
			for (const worker of this.#workers) worker.unref();
		}
		if (this.#failure) throw this.#failure;
		const failed = Atomics.load(control, ERROR);
		if (failed !== 0) {
			const text = new TextDecoder().decode(this.#controlBytes.slice(ERROR_TEXT_BYTE, ERROR_TEXT_BYTE + control[ERROR_TEXT_LENGTH]));
			throw new Error(`ComputeEngine worker ${failed - 1} failed: ${text}`);
		}
	}

	/** The engine cannot be used any more: wake a waiting job, stop the workers. */
	#fail(error: Error): void {
		if (this.#failure) return;
		this.#failure = error;
		Atomics.notify(this.#control, REMAINING);
		for (const worker of this.#workers) void worker.terminate();
	}

	static {
		failureForTesting = (engine, index, exit) => engine.#enqueue(() => engine.#run(JobKind.Fail, 0, [index, exit ? 1 : 0]));
	}
}

/**
 * V8 first runs WebAssembly functions as baseline (Liftoff) code, ~20x slower here on SIMD, and
 * optimizes a function (TurboFan, in the background) only after it has run for a while; a call that is
 * already running never switches. A job calls pack_b, gemm or gemm_raw once per task, so a cold engine would
 * run its first tasks entirely in baseline code. Calling every kernel a few dozen times on small
 * inputs (a few ms) triggers the optimization up front.
 */
function warmUp(kernels: KernelExports, quantize: QuantizeExports, heap: SharedHeap, scratch: number): void {
	const k = 256, n = 16, m = 8;
	const srcBytes = n * k * 4, bBytes = n * k * 4, xBytes = m * k * 4, aBytes = m * k * 4, cBytes = m * n * 4;
	const total = srcBytes + bBytes + xBytes + aBytes + cBytes;
	const src = heap.alloc(total);
	const b = src + srcBytes, x = b + bBytes, a = x + xBytes, c = a + aBytes;
	for (let i = 0; i < 40; i++) {
		for (const dtype of [DTYPE_CODE.F32, DTYPE_CODE.F16, DTYPE_CODE.BF16]) kernels.pack_b(src, dtype, n, k, k, b, n / 8, 0, 0, n / 8, scratch);
		kernels.pack_a(x, m, k, k, a);
		kernels.gemm(a, b, c, 0, k, n * 4, n / 8, 0, m / 4, 0, n / 8, 64);
		kernels.silu_gate(b, src, m, k / 2);
		for (const dtype of [DTYPE_CODE.F32, DTYPE_CODE.F16, DTYPE_CODE.BF16]) kernels.gemm_raw(a, src, dtype, n, k, c, 0, k, n * 4, 0, m / 4, 0, n / 8, 64, scratch, scratch + PIECE_OFFSET);
		for (const dtype of [DTYPE_CODE.F32, DTYPE_CODE.F16, DTYPE_CODE.BF16]) kernels.cvt_narrow(src, dtype, b, dtype === DTYPE_CODE.F16 ? DTYPE_CODE.BF16 : DTYPE_CODE.F16, n * k);
		for (const dtype of [DTYPE_CODE.F32, DTYPE_CODE.F16, DTYPE_CODE.BF16]) quantize.quantize_q8_0(src, dtype, b, (n * k) / 32, scratch);
	}
	heap.free(src);
}

function resolveRelaxedSimd(option: boolean | "auto"): boolean {
	if (option === false) return false;
	if (option === true) {
		if (!enableRelaxedSimd()) throw new Error(`ComputeEngine: relaxed SIMD is not available in this Node.js (${process.version})`);
		return true;
	}
	if (option === "auto") return relaxedSimdSupported() || enableRelaxedSimd();
	throw new TypeError(`ComputeEngine: relaxedSimd must be true, false or "auto", got ${String(option)}`);
}

/**
 * Task grid of a GEMM: groups of column panels (about 8 per worker, an even number of panels each so
 * that two workers rarely write the same cache line of y), and, when that gives too few tasks, slabs
 * of row blocks too. Workers take tasks dynamically, which also balances a busy machine.
 */
export function splitGemm(rowBlocks: number, panels: number, threads: number): {
	tasks: number; panelTasks: number; panelsPerTask: number; rowBlocksPerTask: number;
} {
	let panelsPerTask = Math.ceil(panels / (8 * threads));
	if (panelsPerTask > 1) panelsPerTask = roundUp(panelsPerTask, 2);
	const panelTasks = Math.ceil(panels / panelsPerTask);
	let rowTasks = 1;
	if (panelTasks < 4 * threads) rowTasks = Math.min(rowBlocks, Math.ceil((4 * threads) / panelTasks));
	const rowBlocksPerTask = Math.ceil(rowBlocks / rowTasks);
	rowTasks = Math.ceil(rowBlocks / rowBlocksPerTask);
	return { tasks: panelTasks * rowTasks, panelTasks, panelsPerTask, rowBlocksPerTask };
}

function roundUp(n: number, multiple: number): number {
	return Math.ceil(n / multiple) * multiple;
}

function isPositiveInteger(n: number): boolean {
	return Number.isSafeInteger(n) && n > 0;
}
