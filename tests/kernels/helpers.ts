/** Test helpers for the compute kernels: random weights in each dtype and a float64 reference GEMM. */
import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { fileURLToPath } from "node:url";
import { ComputeEngine } from "../../src/kernels/index.js";
import { SeededRandom } from "../../src/random/seeded-random.js";
import { fromFloat32, toFloat32 } from "../../src/safetensors/index.js";

/** Compiled tests live in .test-build/tests/kernels/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export type WeightDType = "F32" | "F16" | "BF16";
export const DTYPES: WeightDType[] = ["F32", "F16", "BF16"];

/** The engine of one describeEachEngine block (set once its `before` has run) and its configuration. */
export interface EngineUnderTest {
	engine: ComputeEngine;
	threads: number;
	relaxedSimd: boolean;
}

/** One describe per engine configuration (1 and 2 threads, relaxed and plain SIMD), its engine started before and closed after. */
export function describeEachEngine(what: string, body: (under: EngineUnderTest) => void): void {
	for (const threads of [1, 2]) {
		for (const relaxedSimd of [true, false]) {
			describe(`${what}: ${threads} thread(s), ${relaxedSimd ? "relaxed SIMD (FMA)" : "plain SIMD"}`, () => {
				const under = { threads, relaxedSimd } as EngineUnderTest;
				before(async () => {
					under.engine = await ComputeEngine.create({ threads, relaxedSimd });
				});
				after(() => under.engine.close());
				body(under);
			});
		}
	}
}

export interface TestWeight {
	/** Raw little-endian bytes in `dtype`, as packLinear takes them. */
	bytes: Uint8Array;
	/** The values those bytes hold (f32 rounded to the dtype like torch does), as f32. */
	values: Float32Array;
}

/** A [rows, cols] weight of N(0, 1) values rounded to `dtype`. */
export function randomWeight(rows: number, cols: number, dtype: WeightDType, seed: number): TestWeight {
	const f32 = new SeededRandom(seed, `w${rows}x${cols}`).fillNormal(new Float32Array(rows * cols));
	const bytes = fromFloat32(f32, dtype);
	return { bytes, values: toFloat32(bytes, dtype, rows * cols) };
}

export function randomMatrix(count: number, seed: number, key = "x"): Float32Array {
	return new SeededRandom(seed, key).fillNormal(new Float32Array(count));
}

/** y = x · wᵀ + bias in float64, and per element the sum of |x·w| terms (the scale of rounding errors). */
export function referenceLinear(
	x: Float32Array, m: number, w: Float32Array, n: number, k: number, bias?: Float32Array,
): { y: Float64Array; scale: Float64Array } {
	const y = new Float64Array(m * n);
	const scale = new Float64Array(m * n);
	for (let i = 0; i < m; i++) {
		for (let j = 0; j < n; j++) {
			let sum = bias ? bias[j] : 0;
			let abs = bias ? Math.abs(bias[j]) : 0;
			const xo = i * k, wo = j * k;
			for (let t = 0; t < k; t++) {
				const p = x[xo + t] * w[wo + t];
				sum += p;
				abs += Math.abs(p);
			}
			y[i * n + j] = sum;
			scale[i * n + j] = abs;
		}
	}
	return { y, scale };
}

/**
 * Asserts |y - ref| <= tolerance * (sum of |terms|) for every element: a relative error of the dot
 * products that does not blow up where they cancel to almost 0.
 */
export function assertClose(actual: Float32Array, ref: { y: Float64Array; scale: Float64Array }, tolerance: number, what: string): void {
	assert.ok(actual.length >= ref.y.length, `${what}: ${actual.length} values, expected ${ref.y.length}`);
	let worst = 0, worstAt = -1;
	for (let i = 0; i < ref.y.length; i++) {
		const error = Math.abs(actual[i] - ref.y[i]) / (ref.scale[i] || 1e-30);
		if (!(error <= worst)) {
			worst = error;
			worstAt = i;
		}
	}
	assert.ok(worst <= tolerance, `${what}: relative error ${worst} at ${worstAt} (got ${actual[worstAt]}, expected ${ref.y[worstAt]})`);
}
