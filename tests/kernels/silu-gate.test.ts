/**
 * ComputeEngine.siluGate (silu_gate in kernels.wat, a SIMD exp) against the plain JavaScript of
 * src/model/silu-gate.ts (Math.exp in f64): within 1e-6 relative per value, special values included.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { siluGate } from "../../src/model/silu-gate.js";
import { randomMatrix } from "./helpers.js";

/** gate values beyond ±88.7 differ on purpose: f32's exp overflows there (torch gives -0, f64 a tiny value). */
const SPECIAL = [0, -0, 1e-30, -1e-30, 1, -1, 20, -20, 80, -80, 87.5, -87.5, 88.7, -88.7, 100, 1e10, Infinity, NaN, -100, -1e10, -Infinity];

for (const relaxedSimd of [true, false]) {
	test(`siluGate: ${relaxedSimd ? "relaxed SIMD (FMA)" : "plain SIMD"} matches the JavaScript reference`, async (t) => {
		const engine = await ComputeEngine.create({ threads: 1, relaxedSimd });
		t.after(() => engine.close());
		for (const [rows, inter] of [[1, 1], [2, 3], [3, 5], [1, 8], [4, 1003], [7, SPECIAL.length]]) {
			const gateUp = randomMatrix(rows * 2 * inter, rows * inter, "gateUp").map((v, i) => v * (i % 5 === 0 ? 30 : 4));
			if (inter === SPECIAL.length) for (let r = 0; r < rows; r++) gateUp.set(SPECIAL, r * 2 * inter);
			const expected = new Float32Array(rows * inter);
			siluGate(gateUp, expected, rows, inter);
			const act = new Float32Array(rows * inter + 3).fill(7);
			await engine.siluGate(gateUp, act, rows, inter);
			assert.deepEqual(Array.from(act.subarray(rows * inter)), [7, 7, 7], "nothing written past the rows");
			for (let i = 0; i < rows * inter; i++) {
				const g = gateUp[Math.floor(i / inter) * 2 * inter + (i % inter)]!;
				const [got, want] = [act[i]!, expected[i]!];
				const what = `[${rows}, ${inter}] value ${i}: silu(${g}) · up = ${got}, expected ${want}`;
				if (Number.isNaN(want)) assert.ok(Number.isNaN(got), what);
				else if (Math.abs(g) > 88.72 && g < 0) assert.ok(Math.abs(got) < 1e-36, what);
				else assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want) || Object.is(got, want), what);
			}
		}
		await engine.siluGate(new Float32Array(0), new Float32Array(0), 0, 4);
		await assert.rejects(engine.siluGate(new Float32Array(10), new Float32Array(3), 2, 3), /gateUp must be a Float32Array of at least 12 values, got 10/);
		await assert.rejects(engine.siluGate(new Float32Array(12), new Float32Array(5), 2, 3), /act must be a Float32Array of at least 6 values, got 5/);
	});
}
