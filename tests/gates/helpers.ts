/** Reading the gate fixtures (tests/fixtures/expected/<recipe>/) and comparing rows. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SafetensorsFile, toFloat32 } from "../../src/safetensors/index.js";

/** Compiled tests live in .test-build/tests/gates/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const FIXTURES = join(REPO_ROOT, "tests/fixtures");
export const LLAMA_BASE = join(FIXTURES, "models/llama-base");
export const RECIPES = ["mixtral-hidden", "mixtral-cheap-embed", "mixtral-hidden-avg"] as const;
export const NUM_LAYERS = 2;
export const HIDDEN = 32;

export function expectedDir(recipe: string): string {
	return join(FIXTURES, "expected", recipe);
}

export interface F32Tensor {
	shape: number[];
	data: Float32Array;
}

/** Every tensor of a safetensors file, as float32. */
export async function readTensors(path: string): Promise<Map<string, F32Tensor>> {
	const file = await SafetensorsFile.open(path);
	try {
		const out = new Map<string, F32Tensor>();
		for (const [name, info] of file.header.tensors) {
			const raw = new Uint8Array(info.end - info.begin);
			await file.read(info, 0, raw.length, raw);
			const count = info.shape.reduce((a, b) => a * b, 1);
			out.set(name, { shape: info.shape, data: toFloat32(raw, info.dtype, count) });
		}
		return out;
	} finally {
		await file.close();
	}
}

/** The per-prompt vectors `expert{e}.{positive|negative}.{i}` [L, H] as [expert][side][prompt][layer]. */
export async function readPromptVectors(recipe: string): Promise<{ positive: Float32Array[][]; negative: Float32Array[][] }[]> {
	const tensors = await readTensors(join(expectedDir(recipe), "prompt-vectors-fp32.safetensors"));
	const experts: { positive: Float32Array[][]; negative: Float32Array[][] }[] = [];
	for (const [name, t] of tensors) {
		const [, e, side, i] = /^expert(\d+)\.(positive|negative)\.(\d+)$/.exec(name)!;
		const expert = (experts[Number(e)] ??= { positive: [], negative: [] });
		expert[side as "positive" | "negative"][Number(i)] = Array.from({ length: t.shape[0] }, (_, l) => t.data.slice(l * t.shape[1], (l + 1) * t.shape[1]));
	}
	return experts;
}

/** Reference rows per layer ([E*H]) from gates-fp32.safetensors (or mergekit-gates, with its names). */
export async function readGateRows(path: string, name: (layer: number) => string): Promise<Float32Array[]> {
	const tensors = await readTensors(path);
	return Array.from({ length: NUM_LAYERS }, (_, l) => tensors.get(name(l))!.data);
}

export const fp32GateName = (l: number) => `model.layers.${l}.block_sparse_moe.gate.weight`;
export const mergekitGateName = (l: number) => `model.layers.${l}.mlp.gate.weight`;

export function rowCosine(a: ArrayLike<number>, b: ArrayLike<number>, row: number, width = HIDDEN): number {
	let dot = 0, na = 0, nb = 0;
	for (let k = row * width; k < (row + 1) * width; k++) {
		dot += a[k] * b[k];
		na += a[k] * a[k];
		nb += b[k] * b[k];
	}
	return dot / Math.sqrt(na * nb);
}

/** Minimum over layers and rows of the cosine between `actual` and `expected`. */
export function minRowCosine(actual: ArrayLike<number>[], expected: ArrayLike<number>[], rows: number): number {
	let min = Infinity;
	actual.forEach((a, l) => {
		for (let r = 0; r < rows; r++) min = Math.min(min, rowCosine(a, expected[l], r));
	});
	return min;
}

export function assertRowsMatch(actual: ArrayLike<number>[], expected: ArrayLike<number>[], rows: number, minCos: number, what: string): number {
	assert.equal(actual.length, expected.length, `${what}: layer count`);
	const cos = minRowCosine(actual, expected, rows);
	assert.ok(cos >= minCos, `${what}: min row cosine ${cos} < ${minCos}`);
	return cos;
}

export async function readJson<T = any>(path: string): Promise<T> {
	return JSON.parse(await readFile(path, "utf8")) as T;
}
