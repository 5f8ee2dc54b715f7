/**
 * The products of one Mistral-7B-shape (or TinyLlama-shape) decoder layer (q/k/v stacked, o, gate/up stacked, down) over
 * M = 235 rows, on 2 worker threads, two ways, interleaved layer by layer so that both see the same
 * machine: the weights packed to f32 panels first (packLinear of the raw buffer, in place), or used
 * where they were read (rawLinear, packed piece by piece inside the products); and, as the yardstick,
 * the products alone on weights packed beforehand ("prepacked"). Wall and CPU seconds (all threads)
 * per layer; best and median of --rounds.
 *
 *   npx tsc -p tsconfig.bench.json && node .bench-build/bench/raw-linear-bench.js [--rounds 6] [--m 235] [--shape tinyllama]
 */
import { parseArgs } from "node:util";
import { ComputeEngine, type PackedLinear } from "../src/kernels/index.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" }, m: { type: "string", default: "235" }, shape: { type: "string", default: "mistral7b" } } });
const M = Number(values.m);
const ROUNDS = Number(values.rounds);
/** [N, K] of the four products of a layer. */
const SHAPES: Record<string, [number, number][]> = {
	mistral7b: [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]],
	tinyllama: [[2560, 2048], [2048, 2048], [11264, 2048], [2048, 5632]],
};
const LAYER = SHAPES[values.shape as string]!;

const engine = await ComputeEngine.create({ threads: 2 });
const raws = LAYER.map(([n, k], i) => {
	const raw = engine.rawBuffer(n * k * 2);
	const words = new Uint16Array(raw.bytes.buffer, raw.bytes.byteOffset, n * k);
	// bf16 values in [-1, 1): the high half of random f32 bits with a fixed exponent range
	let s = 12345 + i;
	for (let j = 0; j < words.length; j++) {
		s = (s * 1103515245 + 12345) >>> 0;
		words[j] = ((s >>> 16) & 0x807f) | 0x3e00;
	}
	return raw;
});
const xs = LAYER.map(([, k]) => new Float32Array(M * k).map((_, j) => ((j * 7919) % 1000) / 1000 - 0.5));
const outs = LAYER.map(([n]) => new Float32Array(M * n));
const cpu = (): number => {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1e6;
};

type Mode = "packed" | "raw" | "prepacked";

async function layer(mode: Mode): Promise<{ wall: number; cpu: number }> {
	const prepacked = mode === "prepacked" ? await Promise.all(LAYER.map(([n, k], i) => engine.packLinear(raws[i]!.bytes, "BF16", n, k))) : [];
	const [w0, c0] = [performance.now(), cpu()];
	for (const [i, [n, k]] of LAYER.entries()) {
		const w: PackedLinear = prepacked[i] ?? (mode === "raw" ? await engine.rawLinear(raws[i]!, "BF16", n, k) : await engine.packLinear(raws[i]!.bytes, "BF16", n, k));
		await engine.linear(xs[i]!, M, w, { out: outs[i] });
		if (!prepacked[i]) engine.free(w);
	}
	const sample = { wall: (performance.now() - w0) / 1000, cpu: cpu() - c0 };
	for (const w of prepacked) engine.free(w);
	return sample;
}

const samples: Record<Mode, { wall: number; cpu: number }[]> = { packed: [], raw: [], prepacked: [] };
// Round 0 warms up (page faults of the packed copy's fresh memory) and is not counted.
for (let round = 0; round <= ROUNDS; round++) {
	for (const mode of round % 2 ? (["raw", "prepacked", "packed"] as const) : (["packed", "prepacked", "raw"] as const)) {
		const s = await layer(mode);
		if (round > 0) samples[mode].push(s);
	}
}
const gflop = LAYER.reduce((sum, [n, k]) => sum + 2 * M * n * k, 0) / 1e9;
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [mode, list] of Object.entries(samples)) {
	const wall = list.map((s) => s.wall), cores = list.map((s) => s.cpu);
	console.log(
		`${mode.padEnd(6)} per layer (${gflop.toFixed(1)} GFLOP): wall best ${Math.min(...wall).toFixed(3)} s (${(gflop / Math.min(...wall)).toFixed(1)} GFLOP/s), ` +
		`median ${median(wall).toFixed(3)} s; CPU best ${Math.min(...cores).toFixed(3)} s, median ${median(cores).toFixed(3)} s`,
	);
}
await Promise.all(raws.map((raw) => raw.release()));
await engine.close();
