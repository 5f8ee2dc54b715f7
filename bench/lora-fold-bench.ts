/**
 * The compute of a `base+lora` 7B expert: the B·A products of a rank-r LoRA on every linear weight of one
 * Mistral-7B layer, folded into bf16 rows by ComputeEngine.foldLinear block by block as apply-lora and
 * the merge do (blocks of ~4 M values), timed, then extrapolated to 32 layers and to 4 experts. No
 * disk: what a recipe with four base+lora 7B experts costs on top of the same recipe with merged experts.
 *
 *   npm run bench:lora-fold -- [--rank 16] [--layers 32] [--experts 4] [--threads 2]
 */
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { ComputeEngine } from "../src/kernels/index.js";
import { SHAPES } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		rank: { type: "string", default: "16" },
		layers: { type: "string", default: "32" },
		experts: { type: "string", default: "4" },
		threads: { type: "string", default: String(availableParallelism()) },
	},
});
const rank = Number(values.rank);
const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads } = SHAPES.mistral7b;
const kv = (H / numHeads) * numKvHeads;
/** [out, in] of each linear weight of one layer. */
const WEIGHTS: [string, number, number][] = [
	["q_proj", H, H], ["k_proj", kv, H], ["v_proj", kv, H], ["o_proj", H, H],
	["gate_proj", I, H], ["up_proj", I, H], ["down_proj", H, I],
];
const BLOCK_VALUES = 4 << 20;

function random(count: number, scale: number): Float32Array {
	const out = new Float32Array(count);
	let s = 12345;
	for (let i = 0; i < count; i++) out[i] = (((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5) * scale;
	return out;
}

const engine = await ComputeEngine.create({ threads: Number(values.threads) });
const loadBefore = loadavg().map((l) => +l.toFixed(1));
let flops = 0;
let seconds = 0;
const perWeight: Record<string, number> = {};
for (const [name, rows, cols] of WEIGHTS) {
	const blockRows = Math.max(1, Math.floor(BLOCK_VALUES / cols));
	const at = random(cols * rank, 0.02);
	const b = random(rows * rank, 0.02);
	const base = new Uint8Array(blockRows * cols * 2).map((_, i) => (i * 31) & 0x3f);
	const out = new Uint8Array(blockRows * cols * 2);
	const w = await engine.packLinear(new Uint8Array(at.buffer), "F32", cols, rank);
	const started = performance.now();
	for (let r = 0; r < rows; r += blockRows) {
		const n = Math.min(blockRows, rows - r);
		await engine.foldLinear(b.subarray(r * rank, (r + n) * rank), n, w, { base: base.subarray(0, n * cols * 2), baseDtype: "BF16", scale: 2, out: out.subarray(0, n * cols * 2), outDtype: "BF16" });
	}
	const took = (performance.now() - started) / 1000;
	engine.free(w);
	perWeight[name] = +(took * 1000).toFixed(1);
	seconds += took;
	flops += 2 * rank * rows * cols;
}
await engine.close();
const layers = Number(values.layers);
const experts = Number(values.experts);
console.log(JSON.stringify({
	shape: "mistral7b",
	rank,
	threads: Number(values.threads),
	loadAverage: { before: loadBefore, after: loadavg().map((l) => +l.toFixed(1)) },
	oneLayer: { gflop: +(flops / 1e9).toFixed(2), seconds: +seconds.toFixed(2), msPerWeight: perWeight, gflopPerSecond: +(flops / 1e9 / seconds).toFixed(1) },
	[`${experts} experts x ${layers} layers`]: { gflop: +((flops * layers * experts) / 1e9).toFixed(0), seconds: +(seconds * layers * experts).toFixed(0) },
}, null, 2));
