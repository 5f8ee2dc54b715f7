import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FIXTURES } from "../merge/helpers.js";
import { type DType, ModelWeights, ShardWriter, dtypeBytes, planShards, toFloat32 } from "../../src/safetensors/index.js";
import { tensorBytes } from "../merge/tensor-compare.js";

export const LORA = join(FIXTURES, "lora");

export interface LoraCase {
	name: string;
	base: string;
	adapters: string[];
	changed: string[];
}

/** The cases make-fixtures.py wrote with peft (each folder with a case.json). */
export async function loraCases(): Promise<LoraCase[]> {
	const cases: LoraCase[] = [];
	for (const name of (await readdir(LORA)).sort()) {
		const text = await readFile(join(LORA, name, "case.json"), "utf8").catch(() => undefined);
		if (!text) continue;
		const c = JSON.parse(text) as { base: string; adapters: string[]; changed: string[] };
		cases.push({ name, base: join(LORA, c.base), adapters: c.adapters.map((a) => join(LORA, name, a)), changed: c.changed });
	}
	return cases;
}

/** Position of a float's bit pattern on the number line (so neighbours differ by 1). */
function ordered(bits: number, width: number): number {
	const sign = width === 2 ? 0x8000 : 0x80000000;
	return bits >= sign ? -(bits - sign) : bits;
}

/** Largest distance in units in the last place between two tensors' values (same dtype). */
export function maxUlps(a: Uint8Array, b: Uint8Array, width: number): number {
	if (a.byteLength !== b.byteLength) return Number.POSITIVE_INFINITY;
	const va = width === 2 ? new Uint16Array(a.buffer, a.byteOffset, a.byteLength / 2) : new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
	const vb = width === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
	let max = 0;
	for (let i = 0; i < va.length; i++) max = Math.max(max, Math.abs(ordered(va[i], width) - ordered(vb[i], width)));
	return max;
}

/** Our output against peft's expected tensors (within `ulps`) and the base (every other tensor bit-identical). */
export async function compareWithPeft(outDir: string, baseDir: string, expected: Map<string, Uint8Array>): Promise<{ maxUlps: number; identical: number; problems: string[] }> {
	const out = await ModelWeights.open(outDir);
	const base = await ModelWeights.open(baseDir);
	const problems: string[] = [];
	let worst = 0;
	let identical = 0;
	try {
		if (out.names().sort().join() !== base.names().sort().join()) problems.push("tensor names differ from the base");
		for (const name of base.names()) {
			const mine = await tensorBytes(out, name);
			const want = expected.get(name);
			if (want) {
				const dtype = out.get(name).info.dtype;
				const u = maxUlps(mine, want, dtypeBytes(dtype));
				worst = Math.max(worst, u);
				// Beyond one ulp only where W + ΔW cancels to almost nothing: then float32's rounding of B·A (|error| ≤ 2⁻²² of the tensor's largest value) shows.
				if (u > 1 && maxAbsDiff(mine, want, dtype) > 2 ** -22 * maxAbs(want, dtype)) problems.push(`${name}: ${u} ulps from peft ${JSON.stringify(worstPair(mine, want, dtypeBytes(out.get(name).info.dtype)))}`);
			} else if (Buffer.compare(Buffer.from(mine), Buffer.from(await tensorBytes(base, name))) !== 0) {
				problems.push(`${name}: changed, peft leaves it alone`);
			} else identical++;
		}
	} finally {
		await out.close();
		await base.close();
	}
	return { maxUlps: worst, identical, problems };
}

function floats(bytes: Uint8Array, dtype: DType): Float32Array {
	return toFloat32(bytes, dtype, bytes.byteLength / dtypeBytes(dtype));
}

function maxAbs(bytes: Uint8Array, dtype: DType): number {
	return floats(bytes, dtype).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function maxAbsDiff(a: Uint8Array, b: Uint8Array, dtype: DType): number {
	const fa = floats(a, dtype);
	const fb = floats(b, dtype);
	let m = 0;
	for (let i = 0; i < fa.length; i++) m = Math.max(m, Math.abs(fa[i] - fb[i]));
	return m;
}

/** Every tensor of a safetensors folder, raw bytes by name. */
export async function allTensors(dir: string): Promise<Map<string, Uint8Array>> {
	const w = await ModelWeights.open(dir);
	try {
		const out = new Map<string, Uint8Array>();
		for (const name of w.names()) out.set(name, await tensorBytes(w, name));
		return out;
	} finally {
		await w.close();
	}
}

/** The worst pair, for a failure message: index, ours, expected (as bit patterns). */
export function worstPair(a: Uint8Array, b: Uint8Array, width: number): { index: number; ours: number; want: number } {
	const va = width === 2 ? new Uint16Array(a.buffer, a.byteOffset, a.byteLength / 2) : new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
	const vb = width === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
	let best = { index: -1, ours: 0, want: 0, d: -1 };
	for (let i = 0; i < va.length; i++) {
		const d = Math.abs(ordered(va[i], width) - ordered(vb[i], width));
		if (d > best.d) best = { index: i, ours: va[i], want: vb[i], d };
	}
	return best;
}

/** A peft-format LoRA adapter with small random float32 factors on the given modules ([out, in] each), for layout tests. */
export async function writeRandomAdapter(dir: string, modules: { module: string; out: number; in: number }[], rank: number, alpha: number): Promise<void> {
	await mkdir(dir, { recursive: true });
	const specs = modules.flatMap(({ module, out, in: inF }) => [
		{ name: `base_model.model.${module}.lora_A.weight`, dtype: "F32" as const, shape: [rank, inF] },
		{ name: `base_model.model.${module}.lora_B.weight`, dtype: "F32" as const, shape: [out, rank] },
	]);
	const [shard] = planShards(specs, Number.MAX_SAFE_INTEGER, { format: "pt" });
	const writer = await ShardWriter.create(dir, { ...shard, fileName: "adapter_model.safetensors" }, { format: "pt" });
	let seed = 7;
	for (const { byteLength } of shard.tensors) {
		const values = new Float32Array(byteLength / 4);
		for (let i = 0; i < values.length; i++) values[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
		await writer.write(new Uint8Array(values.buffer));
	}
	await writer.finish();
	await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: rank, lora_alpha: alpha, target_modules: null }));
}
