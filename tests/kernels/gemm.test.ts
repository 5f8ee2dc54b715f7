import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { splitGemm } from "../../src/kernels/engine.js";
import { toFloat32 } from "../../src/safetensors/index.js";
import { DTYPES, assertClose, describeEachEngine, randomMatrix, randomWeight, referenceLinear } from "./helpers.js";

/** [M, N, K]: odd sizes around the 4-row / 8-column tiles, the 256 k block and the 128-row slab. */
const SHAPES: [number, number, number][] = [
	[1, 1, 1],
	[1, 8, 4],
	[1, 13, 1],
	[2, 3, 5],
	[3, 5, 7],
	[4, 8, 4],
	[5, 9, 3],
	[7, 37, 53],
	[8, 16, 256],
	[10, 64, 64],
	[17, 100, 257],
	[33, 24, 1000],
	[1, 3, 5003],
	[64, 8, 96],
	[130, 40, 130],
	[6, 17, 4099],
];
const TOLERANCE = 1e-6;

describeEachEngine("linear", (under) => {
	test("engine info", () => {
		assert.deepEqual(under.engine.info, { threads: under.threads, relaxedSimd: under.relaxedSimd });
	});

	for (const dtype of DTYPES) {
		test(`${dtype} weights, all shapes, with and without bias`, async () => {
			let seed = 1;
			for (const [m, n, k] of SHAPES) {
				seed++;
				const w = randomWeight(n, k, dtype, seed);
				const x = randomMatrix(m * k, seed);
				const bias = randomMatrix(n, seed, "bias");
				const packed = await under.engine.packLinear(w.bytes, dtype, n, k);
				assert.equal(packed.rows, n);
				assert.equal(packed.cols, k);
				const y = await under.engine.linear(x, m, packed);
				assert.equal(y.length, m * n);
				assertClose(y, referenceLinear(x, m, w.values, n, k), TOLERANCE, `${dtype} [${m}, ${n}, ${k}]`);
				const yb = await under.engine.linear(x, m, packed, { bias });
				assertClose(yb, referenceLinear(x, m, w.values, n, k, bias), TOLERANCE, `${dtype} [${m}, ${n}, ${k}] + bias`);
				under.engine.free(packed);
			}
		});
	}

	test("a large shape (several k blocks, row slabs and tasks per worker)", async () => {
		const [m, n, k] = [150, 203, 700];
		const w = randomWeight(n, k, "BF16", 99);
		const x = randomMatrix(m * k, 99);
		const packed = await under.engine.packLinear(w.bytes, "BF16", n, k);
		assertClose(await under.engine.linear(x, m, packed), referenceLinear(x, m, w.values, n, k), TOLERANCE, "large");
		under.engine.free(packed);
	});

	test("concurrent calls queue up and each gets its own result; out is written in place", async () => {
		const [n, k] = [24, 40];
		const w = randomWeight(n, k, "F32", 5);
		const packed = await under.engine.packLinear(w.bytes, "F32", n, k);
		const inputs = [1, 2, 3, 9].map((m) => ({ m, x: randomMatrix(m * k, m) }));
		const outs = await Promise.all(inputs.map(({ m, x }) => under.engine.linear(x, m, packed)));
		inputs.forEach(({ m, x }, i) => assertClose(outs[i], referenceLinear(x, m, w.values, n, k), TOLERANCE, `call ${i}`));
		const out = new Float32Array(3 * n + 5).fill(7);
		const y = await under.engine.linear(inputs[2].x, 3, packed, { out });
		assert.equal(y, out);
		assertClose(out, referenceLinear(inputs[2].x, 3, w.values, n, k), TOLERANCE, "out");
		assert.deepEqual(Array.from(out.subarray(3 * n)), [7, 7, 7, 7, 7], "values past M*N untouched");
		assert.equal((await under.engine.linear(new Float32Array(0), 0, packed)).length, 0);
		under.engine.free(packed);
	});
});

describe("exact conversion through pack + linear", () => {
	let engine: ComputeEngine;
	before(async () => {
		engine = await ComputeEngine.create({ threads: 2 });
	});
	after(() => engine.close());

	// Every finite f16/bf16 value as a weight; x = identity, so y = Wᵀ exactly (one product of 1 per sum).
	for (const dtype of ["F16", "BF16"] as const) {
		test(`all finite ${dtype} values`, async () => {
			const expMask = dtype === "F16" ? 0x7c00 : 0x7f80;
			const bits: number[] = [];
			for (let h = 0; h < 65536; h++) if ((h & expMask) !== expMask) bits.push(h);
			const k = 256;
			const n = Math.floor(bits.length / k);
			const raw = new Uint16Array(bits.slice(0, n * k));
			const expected = toFloat32(new Uint8Array(raw.buffer), dtype, n * k);
			const identity = new Float32Array(k * k);
			for (let i = 0; i < k; i++) identity[i * k + i] = 1;
			const packed = await engine.packLinear(new Uint8Array(raw.buffer), dtype, n, k);
			const y = await engine.linear(identity, k, packed);
			for (let row = 0; row < n; row++) {
				for (let col = 0; col < k; col++) {
					const got = y[col * n + row], want = expected[row * k + col];
					if (got !== want) assert.fail(`${dtype} bits 0x${raw[row * k + col].toString(16)}: got ${got}, expected ${want}`);
				}
			}
			engine.free(packed);
		});
	}
});

test("splitGemm covers every panel and row block once", () => {
	for (const threads of [1, 2, 3, 8]) {
		for (const [rowBlocks, panels] of [[1, 1], [1, 1792], [60, 256], [60, 3], [3, 2], [125, 32], [2, 5]]) {
			const s = splitGemm(rowBlocks, panels, threads);
			const seen = new Uint8Array(rowBlocks * panels);
			for (let t = 0; t < s.tasks; t++) {
				const pt = t % s.panelTasks, rt = Math.floor(t / s.panelTasks);
				for (let rb = rt * s.rowBlocksPerTask; rb < Math.min(rowBlocks, (rt + 1) * s.rowBlocksPerTask); rb++) {
					for (let p = pt * s.panelsPerTask; p < Math.min(panels, (pt + 1) * s.panelsPerTask); p++) seen[rb * panels + p]++;
				}
			}
			assert.ok(seen.every((v) => v === 1), `threads ${threads}, ${rowBlocks} x ${panels}: ${JSON.stringify(s)}`);
			assert.ok(s.tasks >= Math.min(rowBlocks * panels, 2 * threads) || threads === 1, `too few tasks: ${JSON.stringify(s)}`);
		}
	}
});
