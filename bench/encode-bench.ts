/**
 * GGUF encode throughput (ComputeEngine.encode: the cvt_narrow / quantize_q8_0 kernels on the workers)
 * on data already in the engine's memory, as the GGUF writer's staging buffers are: GB of input per
 * core-second of process CPU (process.cpuUsage(): workers and main thread together, what the encode
 * costs a 2-core machine that also hashes and writes), and wall GB/s.
 *
 * Also the kernels alone (benchEncodeKernels): one thread, 64 K values (L2-resident), ns per value.
 *
 * Run by bench/kernels-bench.ts (`npm run bench:kernels -- --encode-only`).
 */
import { ComputeEngine } from "../src/kernels/index.js";
import type { EncodeTarget } from "../src/kernels/encode-range.js";
import type { KernelExports, QuantizeExports } from "../src/kernels/protocol.js";
import { kernelsModule, quantizeModule } from "../src/kernels/wasm-modules.js";

export interface EncodeRow {
	from: "F32" | "F16" | "BF16";
	to: EncodeTarget;
	/** GB of input per second of process CPU (best run). */
	perCoreSecond: number;
	/** GB of input per second of wall time (best run). */
	wall: number;
}

const CASES: [EncodeRow["from"], EncodeTarget][] = [
	["BF16", "F16"], ["BF16", "Q8_0"], ["BF16", "BF16"], ["F16", "BF16"], ["F16", "Q8_0"], ["F32", "F16"], ["F32", "BF16"], ["F32", "Q8_0"],
];
const BYTES_PER_VALUE = { F32: 4, F16: 2, BF16: 2 } as const;
const OUT_BYTES = (to: EncodeTarget, count: number): number => (to === "Q8_0" ? (count / 32) * 34 : count * (to === "F32" ? 4 : 2));

/** Values like a weight's: N(0, 0.02)-ish f32 (sum of uniforms), as bytes of `dtype` (truncated, cheap to make). */
function fillWeights(out: Uint8Array, dtype: EncodeRow["from"], count: number): void {
	const f = new Float32Array(count);
	let s = 12345;
	for (let i = 0; i < count; i++) {
		s ^= s << 13;
		s ^= s >>> 17;
		s ^= s << 5;
		f[i] = (((s & 0xffff) + (s >>> 16)) / 65536 - 1) * 0.05;
	}
	const bits = new Uint32Array(f.buffer);
	if (dtype === "F32") out.set(new Uint8Array(f.buffer));
	else if (dtype === "BF16") {
		const h = new Uint16Array(out.buffer, out.byteOffset, count);
		for (let i = 0; i < count; i++) h[i] = bits[i]! >>> 16;
	} else {
		// Near-f16 bits by truncation (exact conversion is not the point here; the value spread is).
		const h = new Uint16Array(out.buffer, out.byteOffset, count);
		for (let i = 0; i < count; i++) {
			const u = bits[i]!, e = ((u >>> 23) & 0xff) - 112;
			h[i] = ((u >>> 16) & 0x8000) | (e <= 0 ? 0 : (e << 10) | ((u >>> 13) & 0x3ff));
		}
	}
}

/** `megabytes` of input per case, encoded `reps` times after one warm-up run; best of the runs. */
export async function benchEncode(threads: number, megabytes = 32, reps = 6): Promise<EncodeRow[]> {
	const engine = await ComputeEngine.create({ threads });
	const rows: EncodeRow[] = [];
	try {
		for (const [from, to] of CASES) {
			const count = Math.floor((megabytes * 2 ** 20) / BYTES_PER_VALUE[from] / 32) * 32;
			const inBytes = count * BYTES_PER_VALUE[from];
			const src = engine.rawBuffer(inBytes);
			const dst = engine.rawBuffer(OUT_BYTES(to, count));
			try {
				fillWeights(src.bytes, from, count);
				let perCoreSecond = 0, wall = 0;
				for (let rep = 0; rep <= reps; rep++) {
					const cpu = process.cpuUsage();
					const t = performance.now();
					await engine.encode(src.bytes, from, to, count, dst.bytes);
					const seconds = (performance.now() - t) / 1000;
					const used = process.cpuUsage(cpu);
					if (rep === 0) continue;
					perCoreSecond = Math.max(perCoreSecond, inBytes / ((used.user + used.system) / 1e6) / 1e9);
					wall = Math.max(wall, inBytes / seconds / 1e9);
				}
				rows.push({ from, to, perCoreSecond, wall });
				console.error(`encode ${from} -> ${to} (${threads} workers, ${megabytes} MB): ${perCoreSecond.toFixed(2)} GB/core-s, wall ${wall.toFixed(2)} GB/s`);
			} finally {
				await Promise.all([src.release(), dst.release()]);
			}
		}
	} finally {
		await engine.close();
	}
	return rows;
}

/** The rows as a Markdown table. */
export function encodeTable(rows: EncodeRow[], threads: number): string {
	return [
		`GGUF encode of data in the engine's memory (${threads} workers): GB of input per core-second of process CPU and wall GB/s, best run.\n`,
		"| from -> to | GB/core-s | wall GB/s |",
		"|---|---|---|",
		...rows.map((r) => `| ${r.from} -> ${r.to} | ${r.perCoreSecond.toFixed(2)} | ${r.wall.toFixed(2)} |`),
	].join("\n");
}

/** ns per value of each encode kernel called directly on this thread, 64 K values in L2, best of 7 x 50 calls. */
export async function benchEncodeKernels(): Promise<string> {
	const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
	const k = new WebAssembly.Instance(await kernelsModule(false), { env: { memory } }).exports as unknown as KernelExports;
	const q = new WebAssembly.Instance(await quantizeModule(), { env: { memory } }).exports as unknown as QuantizeExports;
	const n = 1 << 16, f32 = 1 << 20, half = f32 + 4 * n, dst = 4 << 20, scratch = 8 << 20;
	fillWeights(new Uint8Array(memory.buffer, f32, 4 * n), "F32", n);
	fillWeights(new Uint8Array(memory.buffer, half, 2 * n), "BF16", n);
	const kernels: [string, () => void][] = [
		["bf16 -> f16", () => k.cvt_narrow(half, 2, dst, 1, n)],
		["f16 -> bf16", () => k.cvt_narrow(half, 1, dst, 2, n)],
		["f32 -> f16", () => k.cvt_narrow(f32, 0, dst, 1, n)],
		["f32 -> bf16", () => k.cvt_narrow(f32, 0, dst, 2, n)],
		["Q8_0 from f32", () => q.quantize_q8_0(f32, 0, dst, n / 32, scratch)],
		["Q8_0 from bf16", () => q.quantize_q8_0(half, 2, dst, n / 32, scratch)],
		["Q8_0 from f16", () => q.quantize_q8_0(half, 1, dst, n / 32, scratch)],
	];
	const lines = ["| kernel (one thread, 64 K values in L2) | ns per value |", "|---|---|"];
	for (const [name, run] of kernels) {
		for (let i = 0; i < 200; i++) run();
		let best = Infinity;
		for (let r = 0; r < 7; r++) {
			const t = performance.now();
			for (let i = 0; i < 50; i++) run();
			best = Math.min(best, ((performance.now() - t) * 1e6) / 50 / n);
		}
		lines.push(`| ${name} | ${best.toFixed(3)} |`);
	}
	return lines.join("\n");
}
