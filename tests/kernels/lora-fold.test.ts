/**
 * ComputeEngine.foldLinear (lora_fold in kernels.wat, on the workers) against the plain JavaScript path
 * it replaces: linear() for d = x·Wᵀ, then applyDelta's `w + scale * d` into a Float32Array and
 * fromFloat32 to the output dtype. The bytes must be identical, for F32 and BF16 in and out, row
 * counts and widths off the 4-lane grid, values that round to ties, overflow to Inf, and NaN.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { applyDelta } from "../../src/lora/edited-rows.js";
import { type FloatDType, dtypeBytes, fromFloat32, toFloat32 } from "../../src/safetensors/index.js";
import { randomMatrix } from "./helpers.js";

/** Base values that stress the rounding: ties of bf16, huge values (Inf after the add), subnormals, NaN. */
const SPECIAL = [0, -0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 3.3895313892515355e38, -3.3895313892515355e38, 1e-40, -1e-40, Infinity, -Infinity, NaN];

for (const relaxedSimd of [true, false]) {
	test(`foldLinear: ${relaxedSimd ? "relaxed SIMD" : "plain SIMD"} writes the JavaScript path's bytes`, async (t) => {
		const engine = await ComputeEngine.create({ threads: 2, relaxedSimd });
		t.after(() => engine.close());
		for (const [m, n, k] of [[1, 1, 1], [3, 5, 4], [8, 12, 16], [37, 67, 16], [8, SPECIAL.length + 3, 2]]) {
			const at = randomMatrix(n * k, m * 31 + n, "A").map((v) => v * 0.05);
			const w = await engine.packLinear(new Uint8Array(at.buffer), "F32", n, k);
			const special = n === SPECIAL.length + 3;
			// With special values, rows 0-5 have d = 0 exactly: their sums are the values themselves (ties stay ties).
			const x = randomMatrix(m * k, m + n * 7, "B").map((v, i) => (special && i < 6 * k ? 0 : v * 0.05));
			const d = await engine.linear(x, m, w);
			for (const baseDtype of ["F32", "BF16"] as const) {
				const values = randomMatrix(m * n, m * n + 3, "W");
				// Shifted by one column per row: they fall on every SIMD lane and on the row's 3-value tail.
				if (special) for (let r = 0; r < m; r++) values.set(SPECIAL, r * n + (r % 4));
				const base = fromFloat32(values, baseDtype);
				for (const outDtype of ["F32", "BF16"] as const) {
					for (const scale of [2, 8 / Math.sqrt(16), 1 / 3, 1e30]) {
						const expected = toFloat32(base, baseDtype, m * n);
						applyDelta(expected, d, scale, n);
						const want = fromFloat32(expected, outDtype as FloatDType);
						const out = new Uint8Array(m * n * dtypeBytes(outDtype));
						await engine.foldLinear(x, m, w, { base, baseDtype, scale, out, outDtype });
						const what = `[${m}, ${n}] k ${k}, ${baseDtype} -> ${outDtype}, scale ${scale}`;
						if (!special) assert.ok(Buffer.from(out).equals(Buffer.from(want)), what);
						else assertSameOrBothNaN(out, want, outDtype, what);
					}
				}
			}
			engine.free(w);
		}
	});
}

test("foldLinear refuses bad arguments", async (t) => {
	const engine = await ComputeEngine.create({ threads: 1 });
	t.after(() => engine.close());
	const w = await engine.packLinear(new Uint8Array(4 * 8), "F32", 4, 2);
	const fold = { base: new Uint8Array(3 * 4 * 2), baseDtype: "BF16" as const, scale: 2, out: new Uint8Array(3 * 4 * 4), outDtype: "F32" as const };
	await assert.rejects(engine.foldLinear(new Float32Array(5), 3, w, fold), /x must be a Float32Array of 3 x 2 = 6 values, got 5/);
	await assert.rejects(engine.foldLinear(new Float32Array(6), 3, w, { ...fold, base: new Uint8Array(5) }), /base must hold 3 x 4 BF16 values, got 5 bytes/);
	await assert.rejects(engine.foldLinear(new Float32Array(6), 3, w, { ...fold, outDtype: "F16" as never }), /dtypes must be F32 or BF16/);
	await engine.foldLinear(new Float32Array(6), 3, w, fold);
});

/** NaN payloads may differ (f32.demote's NaN is not JavaScript's); every other value must be the same bits. */
function assertSameOrBothNaN(got: Uint8Array, want: Uint8Array, dtype: "F32" | "BF16", what: string): void {
	const a = toFloat32(got, dtype, got.byteLength / dtypeBytes(dtype));
	const b = toFloat32(want, dtype, want.byteLength / dtypeBytes(dtype));
	const width = dtypeBytes(dtype);
	for (let i = 0; i < a.length; i++) {
		if (Number.isNaN(b[i]!)) assert.ok(Number.isNaN(a[i]!), `${what}: value ${i} is ${a[i]}, expected NaN`);
		else assert.ok(Buffer.from(got.subarray(i * width, (i + 1) * width)).equals(Buffer.from(want.subarray(i * width, (i + 1) * width))), `${what}: value ${i} is ${a[i]}, expected ${b[i]}`);
	}
}
