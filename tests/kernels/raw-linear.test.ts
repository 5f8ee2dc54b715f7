/**
 * rawLinear: a weight multiplied straight from its raw buffer (packed piece by piece inside gemm_raw)
 * gives exactly packLinear's products, bit for bit, and its memory comes back once the buffer is
 * released and the weight freed, in either order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { DTYPES, assertClose, describeEachEngine, randomMatrix, randomWeight, referenceLinear } from "./helpers.js";

/** [M, N, K]: partial tiles, panels and k blocks, several row slabs (M > 256), few panels (row tasks). */
const SHAPES: [number, number, number][] = [
	[1, 1, 1],
	[3, 5, 7],
	[7, 37, 53],
	[17, 100, 257],
	[33, 24, 1000],
	[130, 40, 130],
	[300, 19, 520],
	[6, 17, 4099],
];

describeEachEngine("rawLinear", (under) => {
	for (const dtype of DTYPES) {
		test(`${dtype}: the same products as packLinear, bit for bit, with and without bias`, async () => {
			let seed = 40;
			for (const [m, n, k] of SHAPES) {
				seed++;
				const w = randomWeight(n, k, dtype, seed);
				const x = randomMatrix(m * k, seed);
				const bias = randomMatrix(n, seed, "bias");
				const raw = under.engine.rawBuffer(w.bytes.length);
				raw.bytes.set(w.bytes);
				const direct = await under.engine.rawLinear(raw, dtype, n, k);
				const packed = await under.engine.packLinear(w.bytes, dtype, n, k);
				const y = await under.engine.linear(x, m, direct);
				assert.deepEqual(y, await under.engine.linear(x, m, packed), `${dtype} [${m}, ${n}, ${k}]`);
				assertClose(y, referenceLinear(x, m, w.values, n, k), 1e-6, `${dtype} [${m}, ${n}, ${k}]`);
				assert.deepEqual(await under.engine.linear(x, m, direct, { bias }), await under.engine.linear(x, m, packed, { bias }), `${dtype} [${m}, ${n}, ${k}] + bias`);
				under.engine.free(direct);
				under.engine.free(packed);
				await raw.release();
			}
		});
	}
});

test("rawLinear: the raw memory comes back after both release and free, in either order", async (t) => {
	const engine = await ComputeEngine.create({ threads: 2 });
	t.after(() => engine.close());
	const [n, k] = [64, 96];
	const w = randomWeight(n, k, "BF16", 3);
	const x = randomMatrix(5 * k, 3);
	const baseline = engine.memoryUsage.usedBytes;

	// Released first (as packHalf does), then used and freed.
	const first = engine.rawBuffer(w.bytes.length);
	first.bytes.set(w.bytes);
	const held = engine.memoryUsage.usedBytes - baseline;
	const a = await engine.rawLinear(first, "BF16", n, k);
	await first.release();
	assert.equal(engine.memoryUsage.usedBytes, baseline + held, "still held by the weight");
	assertClose(await engine.linear(x, 5, a), referenceLinear(x, 5, w.values, n, k), 1e-6, "after release");
	engine.free(a);

	// Freed first, then released.
	const second = engine.rawBuffer(w.bytes.length);
	second.bytes.set(w.bytes);
	const b = await engine.rawLinear(second, "BF16", n, k);
	const pending = engine.linear(x, 5, b);
	engine.free(b);
	assertClose(await pending, referenceLinear(x, 5, w.values, n, k), 1e-6, "a call queued before free still runs");
	assert.equal(engine.memoryUsage.usedBytes, baseline + held, "still held by the buffer");
	await second.release();
	assert.equal(engine.memoryUsage.usedBytes, baseline, "raw memory freed");
});

test("rawLinear: bad arguments are rejected with clear errors", async (t) => {
	const engine = await ComputeEngine.create({ threads: 1 });
	const other = await ComputeEngine.create({ threads: 1 });
	t.after(() => Promise.all([engine.close(), other.close()]));
	const raw = engine.rawBuffer(24);
	await assert.rejects(other.rawLinear(raw, "BF16", 3, 4), /does not come from this ComputeEngine/);
	await assert.rejects(engine.rawLinear({ bytes: new Uint8Array(24), release: async () => {} }, "BF16", 3, 4), /does not come from this ComputeEngine/);
	await assert.rejects(engine.rawLinear(raw, "BF16", 3, 5), /has 30 bytes, the buffer 24/);
	await assert.rejects(engine.rawLinear(raw, "I8" as "F32", 3, 2), /dtype must be F32, F16 or BF16/);
	await assert.rejects(engine.rawLinear(raw, "BF16", 0, 4), /bad shape/);
	await raw.release();
	await assert.rejects(engine.rawLinear(raw, "BF16", 3, 4), /was released/);
});
