/**
 * Compute-kernel benchmark: GFLOP/s of ComputeEngine.linear on Llama/Mistral Linear shapes with 1 and
 * 2 threads, relaxed SIMD (FMA) and plain SIMD; bf16 packing throughput; the cost of dispatching
 * ~1 ms tasks to workers with Atomics.wait/notify versus postMessage; GGUF encode throughput
 * (bench/encode-bench.ts).
 *
 *   npm run bench:kernels
 *   npm run bench:kernels -- --threads 1,2 --variants relaxed,plain --m 240 --reps 8 [--quick] [--no-dispatch] [--no-encode]
 *   npm run bench:kernels -- --encode-only
 *
 * Prints a Markdown table (docs/performance.md has the reference figures). The machine's peak is
 * taken as 100 GFLOP/s per core (AVX2 + FMA: 2 x 8-lane FMAs per cycle at ~3 GHz); WebAssembly SIMD is
 * 128-bit, so its ceiling is half of that.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { ComputeEngine, type PackedLinear } from "../src/kernels/index.js";
import { benchEncode, benchEncodeKernels, encodeTable } from "./encode-bench.js";

const PEAK_PER_CORE = 100;

const { values } = parseArgs({
	options: {
		threads: { type: "string", default: `1,${Math.min(2, availableParallelism())}` },
		variants: { type: "string", default: "relaxed,plain" },
		m: { type: "string", default: "240" },
		reps: { type: "string", default: "8" },
		quick: { type: "boolean", default: false },
		"no-dispatch": { type: "boolean", default: false },
		"no-encode": { type: "boolean", default: false },
		"encode-only": { type: "boolean", default: false },
	},
});

const SHAPES: [number, number][] = values.quick
	? [[2048, 2048], [2048, 5632]]
	: [[2048, 2048], [5632, 2048], [2048, 5632], [14336, 4096]];
const M = Number(values.m);
const REPS = Number(values.reps);
const threadCounts = [...new Set((values.threads as string).split(",").map(Number))];
const variants = (values.variants as string).split(",") as ("relaxed" | "plain")[];

/** bf16 bytes of N(0,1)-ish values (sum of uniforms), cheap to make for 58 M elements. */
function randomBf16(count: number, seed: number): Uint8Array {
	const out = new Uint16Array(count);
	const f = new Float32Array(1);
	const u = new Uint32Array(f.buffer);
	let s = seed | 1;
	for (let i = 0; i < count; i++) {
		s ^= s << 13;
		s ^= s >>> 17;
		s ^= s << 5;
		f[0] = ((s & 0xffff) + (s >>> 16)) / 65536 - 1;
		out[i] = u[0] >>> 16;
	}
	return new Uint8Array(out.buffer);
}

function randomF32(count: number, seed: number): Float32Array {
	const out = new Float32Array(count);
	let s = seed | 1;
	for (let i = 0; i < count; i++) {
		s ^= s << 13;
		s ^= s >>> 17;
		s ^= s << 5;
		out[i] = (s >>> 0) / 2 ** 31 - 1;
	}
	return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Row {
	threads: number;
	variant: string;
	n: number;
	k: number;
	packGBs: number;
	best: number;
	med: number;
	firstMs: number;
}

/**
 * All engines (threads x variants) stay alive and take turns, shape by shape, run after run: on a
 * machine shared with other work, each configuration then gets samples spread over time and the
 * best one is the least disturbed.
 */
async function benchGemm(): Promise<Row[]> {
	const configs: { threads: number; variant: string; engine: ComputeEngine }[] = [];
	for (const threads of threadCounts) {
		for (const variant of variants) configs.push({ threads, variant, engine: await ComputeEngine.create({ threads, relaxedSimd: variant === "relaxed" }) });
	}
	const rows: Row[] = [];
	try {
		for (const [i, [n, k]] of SHAPES.entries()) {
			const bytes = randomBf16(n * k, 1234 + i);
			const x = randomF32(M * k, k);
			const out = new Float32Array(M * n);
			const flop = 2 * M * n * k;
			const samples = configs.map(() => ({ pack: [] as number[], gemm: [] as number[], firstMs: 0, packed: undefined as PackedLinear | undefined }));
			// Packing is timed after the first time, as every layer after the first sees it: the memory
			// freed by the previous layer is reused (the first time also pays the page faults).
			for (let round = 0; round < 3; round++) {
				for (const [c, { engine }] of configs.entries()) {
					const t = performance.now();
					const packed = await engine.packLinear(bytes, "BF16", n, k);
					if (round > 0) samples[c].pack.push(bytes.byteLength / ((performance.now() - t) / 1000) / 1e9);
					if (round < 2) engine.free(packed);
					else samples[c].packed = packed;
				}
			}
			for (let round = 0; round <= REPS; round++) {
				for (const [c, { engine }] of configs.entries()) {
					const t = performance.now();
					await engine.linear(x, M, samples[c].packed!, { out });
					const seconds = (performance.now() - t) / 1000;
					if (round === 0) samples[c].firstMs = seconds * 1000;
					else samples[c].gemm.push(flop / seconds / 1e9);
				}
			}
			for (const [c, { threads, variant, engine }] of configs.entries()) {
				engine.free(samples[c].packed!);
				const row: Row = {
					threads, variant, n, k, packGBs: Math.max(...samples[c].pack),
					best: Math.max(...samples[c].gemm), med: median(samples[c].gemm), firstMs: samples[c].firstMs,
				};
				rows.push(row);
				const perCore = row.best / threads;
				console.error(
					`threads ${threads} ${variant.padEnd(7)} M=${M} N=${n} K=${k}: best ${row.best.toFixed(1)} GFLOP/s ` +
					`(median ${row.med.toFixed(1)}, first call ${row.firstMs.toFixed(0)} ms), ${perCore.toFixed(1)}/core = ` +
					`${((100 * perCore) / PEAK_PER_CORE).toFixed(0)}% of peak; pack ${row.packGBs.toFixed(2)} GB/s bf16`,
				);
			}
		}
	} finally {
		await Promise.all(configs.map(({ engine }) => engine.close()));
	}
	rows.sort((a, b) => a.threads - b.threads || b.variant.localeCompare(a.variant));
	return rows;
}

/**
 * Round trips of jobs of ~1 ms (a busy loop on each of 2 workers): Atomics (workers block in
 * Atomics.wait, the main thread awaits Atomics.waitAsync, as ComputeEngine does) versus postMessage
 * to each worker and a message back. Both pairs of workers exist at once and jobs alternate between
 * them, so that both see the same machine. Reports the median time per job above the 1 ms of work.
 */
async function benchDispatch(): Promise<{ atomicsUs: number; messageUs: number }> {
	const WORK_MS = 1;
	const JOBS = 1000;
	const source = `
		const { parentPort, workerData } = require("node:worker_threads");
		const busy = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
		const ctl = new Int32Array(workerData.control);
		parentPort.postMessage("ready");
		if (workerData.mode === "atomics") {
			let seen = 0;
			for (;;) {
				Atomics.wait(ctl, 0, seen);
				seen = Atomics.load(ctl, 0);
				if (seen < 0) break;
				busy(${WORK_MS});
				if (Atomics.sub(ctl, 1, 1) === 1) Atomics.notify(ctl, 1);
			}
		} else {
			parentPort.on("message", (m) => { if (m === "quit") process.exit(0); busy(${WORK_MS}); parentPort.postMessage(m); });
		}`;
	const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync;
	const control = new SharedArrayBuffer(64);
	const ctl = new Int32Array(control);
	const pairs = {
		atomics: [0, 1].map(() => new Worker(source, { eval: true, workerData: { control, mode: "atomics" } })),
		message: [0, 1].map(() => new Worker(source, { eval: true, workerData: { control, mode: "message" } })),
	};
	const all = [...pairs.atomics, ...pairs.message];
	await Promise.all(all.map((w) => new Promise((resolve) => w.once("message", resolve))));
	const times = { atomics: [] as number[], message: [] as number[] };
	for (let job = 1; job <= JOBS; job++) {
		for (const mode of ["atomics", "message"] as const) {
			const t = performance.now();
			if (mode === "atomics") {
				ctl[1] = 2;
				Atomics.store(ctl, 0, job);
				Atomics.notify(ctl, 0);
				for (let v = Atomics.load(ctl, 1); v !== 0; v = Atomics.load(ctl, 1)) {
					const w = waitAsync(ctl, 1, v);
					if (w.async) await w.value;
				}
			} else {
				await Promise.all(pairs.message.map((w) => new Promise((resolve) => {
					w.once("message", resolve);
					w.postMessage(job);
				})));
			}
			times[mode].push(performance.now() - t);
		}
	}
	Atomics.store(ctl, 0, -1);
	Atomics.notify(ctl, 0);
	for (const w of pairs.message) w.postMessage("quit");
	await Promise.all(all.map((w) => new Promise((resolve) => w.once("exit", resolve))));
	const atomicsUs = (median(times.atomics) - WORK_MS) * 1000;
	const messageUs = (median(times.message) - WORK_MS) * 1000;
	console.error(`dispatch of ${WORK_MS} ms jobs to 2 workers, median overhead per job: Atomics ${atomicsUs.toFixed(0)} us, postMessage ${messageUs.toFixed(0)} us`);
	return { atomicsUs, messageUs };
}

const encodeThreads = Math.min(2, availableParallelism());
if (values["encode-only"]) {
	console.log(`\n${encodeTable(await benchEncode(encodeThreads), encodeThreads)}\n\n${await benchEncodeKernels()}`);
	process.exit(0);
}
const rows = await benchGemm();
const dispatch = values["no-dispatch"] ? undefined : await benchDispatch();

console.log(`\nM = ${M} rows, bf16 weights packed to f32, best of ${REPS} runs (median in brackets), configurations interleaved; % of peak = per-core GFLOP/s / ${PEAK_PER_CORE}.\n`);
console.log("| threads | SIMD | N x K | GFLOP/s | per core | % of peak | pack bf16 GB/s |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) {
	const perCore = r.best / r.threads;
	console.log(
		`| ${r.threads} | ${r.variant === "relaxed" ? "relaxed (FMA)" : "plain"} | ${r.n} x ${r.k} | ${r.best.toFixed(1)} (${r.med.toFixed(1)}) | ` +
		`${perCore.toFixed(1)} | ${Math.round((100 * perCore) / PEAK_PER_CORE)}% | ${r.packGBs.toFixed(2)} |`,
	);
}
if (dispatch) {
	console.log(`\nDispatch overhead per ~1 ms job on 2 workers (median of 1000, alternating): Atomics.wait/notify + waitAsync ${dispatch.atomicsUs.toFixed(0)} us, postMessage ${dispatch.messageUs.toFixed(0)} us.`);
}
if (!values["no-encode"]) console.log(`\n${encodeTable(await benchEncode(encodeThreads), encodeThreads)}\n\n${await benchEncodeKernels()}`);
