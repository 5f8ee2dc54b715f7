/**
 * A compute worker: instantiates the kernels module on the shared memory, then loops forever waiting
 * (Atomics.wait) for jobs in the control block; see protocol.ts. It never returns to its event loop
 * while running, so it needs no message handling; the Quit job ends the loop and the thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { encodeRange } from "./encode-range.js";
import {
	ERROR, ERROR_TEXT_BYTE, ERROR_TEXT_LENGTH, ERROR_TEXT_MAX_BYTES, JobKind, KIND, NEXT_TASK, PARAMS,
	PIECE_OFFSET, REMAINING, SEQ, TASKS, type KernelExports, type QuantizeExports, type WorkerInit,
} from "./protocol.js";

const init = workerData as WorkerInit;
const kernels = new WebAssembly.Instance(init.module, { env: { memory: init.memory } }).exports as unknown as KernelExports;
const quantize = new WebAssembly.Instance(init.quantizeModule, { env: { memory: init.memory } }).exports as unknown as QuantizeExports;
const control = new Int32Array(init.control);
const controlBytes = new Uint8Array(init.control);
const index = init.index;

/**
 * The row blocks and panels of one task of a GEMM job, from the job's tiling at `at` in the control
 * block: rowBlocks, panels, (one job-specific slot), panelsPerTask, rowBlocksPerTask, panelTasks.
 */
function tileOf(task: number, at: number): { panels: number; rb0: number; rb1: number; p0: number; p1: number } {
	const rowBlocks = control[at], panels = control[at + 1];
	const panelsPerTask = control[at + 3], rowBlocksPerTask = control[at + 4], panelTasks = control[at + 5];
	const pt = task % panelTasks;
	const rb0 = ((task - pt) / panelTasks) * rowBlocksPerTask;
	const p0 = pt * panelsPerTask;
	return { panels, rb0, rb1: Math.min(rb0 + rowBlocksPerTask, rowBlocks), p0, p1: Math.min(p0 + panelsPerTask, panels) };
}

function runTask(kind: number, task: number): void {
	const p = PARAMS;
	switch (kind) {
		case JobKind.Gemm: {
			const t = tileOf(task, p + 6);
			kernels.gemm(control[p], control[p + 1], control[p + 2], control[p + 3], control[p + 4], control[p + 5], t.panels, t.rb0, t.rb1, t.p0, t.p1, control[p + 8]);
			return;
		}
		case JobKind.GemmRaw: {
			const t = tileOf(task, p + 9);
			kernels.gemm_raw(
				control[p], control[p + 1], control[p + 2], control[p + 3], control[p + 4], control[p + 5], control[p + 6], control[p + 7], control[p + 8],
				t.rb0, t.rb1, t.p0, t.p1, control[p + 11],
				init.scratch, init.scratch + PIECE_OFFSET,
			);
			return;
		}
		case JobKind.LoraFold: {
			const rowsPerTask = control[p + 5];
			const r0 = task * rowsPerTask;
			kernels.lora_fold(control[p], control[p + 1], control[p + 2], control[p + 3], control[p + 4], r0, Math.min(r0 + rowsPerTask, control[p + 6]), control[p + 7], control[p + 8], control[p + 9]);
			return;
		}
		case JobKind.PackB: {
			const chunkPanels = control[p + 8], panelsPerTask = control[p + 9];
			const p0 = task * panelsPerTask;
			kernels.pack_b(
				control[p], control[p + 1], control[p + 2], control[p + 3], control[p + 4], control[p + 5], control[p + 6], control[p + 7],
				p0, Math.min(p0 + panelsPerTask, chunkPanels), init.scratch,
			);
			return;
		}
		case JobKind.Encode: {
			const perTask = control[p + 5];
			const from = task * perTask;
			encodeRange(kernels, quantize, init.memory, control[p], control[p + 1], control[p + 2], control[p + 3], from, Math.min(from + perTask, control[p + 4]), init.scratch);
			return;
		}
		default:
			throw new Error(`unknown job kind ${kind}`);
	}
}

function recordError(error: unknown): void {
	if (Atomics.compareExchange(control, ERROR, 0, index + 1) !== 0) return;
	const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
	const { written } = new TextEncoder().encodeInto(text, controlBytes.subarray(ERROR_TEXT_BYTE, ERROR_TEXT_BYTE + ERROR_TEXT_MAX_BYTES));
	control[ERROR_TEXT_LENGTH] = written;
}

// Read before saying ready: the first job may be posted as soon as the main thread hears from us.
let seen = Atomics.load(control, SEQ);
parentPort!.postMessage("ready");
for (;;) {
	Atomics.wait(control, SEQ, seen);
	const seq = Atomics.load(control, SEQ);
	if (seq === seen) continue;
	seen = seq;
	const kind = control[KIND];
	if (kind === JobKind.Quit) break;
	try {
		if (kind === JobKind.Fail && control[PARAMS] === index) {
			if (control[PARAMS + 1] === 1) process.exit(70);
			throw new Error(`test failure requested in worker ${index}`);
		}
		const tasks = control[TASKS];
		for (let task = Atomics.add(control, NEXT_TASK, 1); task < tasks; task = Atomics.add(control, NEXT_TASK, 1)) {
			runTask(kind, task);
		}
	} catch (error) {
		recordError(error);
		// Let the other workers stop early: no task index is handed out any more.
		Atomics.store(control, NEXT_TASK, 0x3fffffff);
	}
	if (Atomics.sub(control, REMAINING, 1) === 1) Atomics.notify(control, REMAINING);
}
