import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { injectWorkerFailure } from "../../src/kernels/engine.js";
import { SharedHeap } from "../../src/kernels/heap.js";
import { assertClose, randomMatrix, randomWeight, referenceLinear } from "./helpers.js";

test("packing, freeing and packing again the same sizes reuses the memory", async (t) => {
	const engine = await ComputeEngine.create({ threads: 2 });
	t.after(() => engine.close());
	const shapes: [number, number][] = [[96, 64], [64, 96], [200, 40]];
	const weights = shapes.map(([n, k], i) => randomWeight(n, k, "BF16", i));
	const x = randomMatrix(5 * 96, 1);
	let memoryAfterFirstLayer = 0;
	const baseline = engine.memoryUsage.usedBytes;
	for (let layer = 0; layer < 12; layer++) {
		const packed = await Promise.all(weights.map((w, i) => engine.packLinear(w.bytes, "BF16", shapes[i][0], shapes[i][1])));
		for (let i = 0; i < shapes.length; i++) {
			const [n, k] = shapes[i];
			const y = await engine.linear(x.subarray(0, 5 * k), 5, packed[i]);
			assertClose(y, referenceLinear(x.subarray(0, 5 * k), 5, weights[i].values, n, k), 1e-6, `layer ${layer} weight ${i}`);
		}
		for (const p of packed) engine.free(p);
		if (layer === 0) memoryAfterFirstLayer = engine.memoryUsage.memoryBytes;
		else assert.equal(engine.memoryUsage.memoryBytes, memoryAfterFirstLayer, `memory grew at layer ${layer}`);
	}
	// Frees take effect in queue order: this call runs after them. 1 x 1 packs into 1 panel x 4 k x 32 bytes.
	const tiny = await engine.packLinear(new Uint8Array(4), "F32", 1, 1);
	assert.equal(engine.memoryUsage.usedBytes, baseline + 128);
	engine.free(tiny);
});

test("a weight read into a raw buffer packs in place, gives the same products, and its memory comes back", async (t) => {
	const engine = await ComputeEngine.create({ threads: 2 });
	t.after(() => engine.close());
	const [n, k] = [200, 72];
	const w = randomWeight(n, k, "BF16", 7);
	const x = randomMatrix(9 * k, 3);
	const baseline = engine.memoryUsage.usedBytes;
	const raw = engine.rawBuffer(w.bytes.length);
	raw.bytes.set(w.bytes);
	const inPlace = await engine.packLinear(raw.bytes, "BF16", n, k);
	// The pack read the raw bytes where they were: changing them afterwards changes nothing.
	raw.bytes.fill(0);
	await raw.release();
	const copied = await engine.packLinear(w.bytes, "BF16", n, k);
	const a = await engine.linear(x, 9, inPlace);
	const b = await engine.linear(x, 9, copied);
	assert.deepEqual(a, b);
	assertClose(a, referenceLinear(x, 9, w.values, n, k), 1e-6, "in place");
	engine.free(inPlace);
	engine.free(copied);
	// Frees take effect in queue order: this pack runs after them (1 x 1 packs into 128 bytes).
	const tiny = await engine.packLinear(new Uint8Array(4), "F32", 1, 1);
	assert.equal(engine.memoryUsage.usedBytes, baseline + 128, "raw and packed memory freed");
	engine.free(tiny);
});

test("SharedHeap: best fit, coalescing, growth only by what is missing, double free detected", () => {
	const memory = new WebAssembly.Memory({ initial: 1, maximum: 100, shared: true });
	const heap = new SharedHeap(memory);
	const a = heap.alloc(1000);
	const b = heap.alloc(64);
	const c = heap.alloc(30000);
	assert.equal(a % 64, 0);
	assert.ok(a > 0 && b >= a + 1000 && c >= b + 64);
	assert.equal(memory.buffer.byteLength, 65536);
	heap.free(b);
	assert.equal(heap.alloc(60), b, "best fit takes the hole");
	heap.free(a);
	heap.free(b);
	assert.equal(heap.usedBytes, 30016);
	assert.equal(heap.alloc(1064), a, "freed neighbours coalesce");
	assert.throws(() => heap.free(c + 64), /not an allocated block/);
	const big = heap.alloc(100000);
	assert.equal(memory.buffer.byteLength, 65536 * Math.ceil((c + 30016 + 100032) / 65536), "grown by the missing pages");
	heap.free(big);
	heap.free(c);
	assert.equal(heap.alloc(100000), c, "the tail block coalesced with the grown memory");
	assert.throws(() => heap.alloc(200 * 65536), /out of kernel memory/);
	assert.throws(() => heap.free(big), /double free/);
});

test("bad arguments are rejected with clear errors", async (t) => {
	const engine = await ComputeEngine.create({ threads: 1, relaxedSimd: false });
	const other = await ComputeEngine.create({ threads: 1 });
	t.after(() => Promise.all([engine.close(), other.close()]));
	await assert.rejects(engine.packLinear(new Uint8Array(10), "BF16", 2, 3), /has 12 bytes, got 10/);
	await assert.rejects(engine.packLinear(new Uint8Array(0), "BF16", 0, 3), /bad shape/);
	await assert.rejects(engine.packLinear(new Uint8Array(12), "I8" as "F32", 2, 3), /dtype must be F32, F16 or BF16/);
	const w = await engine.packLinear(new Uint8Array(24), "F32", 2, 3);
	await assert.rejects(engine.linear(new Float32Array(5), 2, w), /x must be a Float32Array of 2 x 3 = 6 values, got 5/);
	await assert.rejects(engine.linear(new Float32Array(6), 2, w, { bias: new Float32Array(3) }), /bias must be a Float32Array of 2 values/);
	await assert.rejects(engine.linear(new Float32Array(6), 2, w, { out: new Float32Array(3) }), /out must be/);
	await assert.rejects(other.linear(new Float32Array(6), 2, w), /does not come from this ComputeEngine/);
	const pending = engine.linear(new Float32Array(6).fill(1), 2, w);
	engine.free(w);
	assert.deepEqual(Array.from(await pending), [0, 0, 0, 0], "a call queued before free still runs");
	await assert.rejects(engine.linear(new Float32Array(6), 2, w), /was freed/);
	assert.throws(() => engine.free(w), /was freed/);
	await assert.rejects(ComputeEngine.create({ threads: 0 }), /threads must be an integer/);
	await engine.close();
	await assert.rejects(engine.packLinear(new Uint8Array(24), "F32", 2, 3), /ComputeEngine is closed/);
});

test("an error in a worker rejects that call; the engine keeps working", async (t) => {
	const engine = await ComputeEngine.create({ threads: 2 });
	t.after(() => engine.close());
	await assert.rejects(injectWorkerFailure(engine, 1, false), /ComputeEngine worker 1 failed: Error: test failure requested in worker 1/);
	const w = randomWeight(16, 16, "F32", 3);
	const x = randomMatrix(16 * 4, 3);
	const packed = await engine.packLinear(w.bytes, "F32", 16, 16);
	assertClose(await engine.linear(x, 4, packed), referenceLinear(x, 4, w.values, 16, 16), 1e-6, "after error");
});

test("a worker that dies rejects the pending and all later calls instead of hanging; close() still resolves", async () => {
	const engine = await ComputeEngine.create({ threads: 2 });
	const w = await engine.packLinear(new Uint8Array(64), "F32", 4, 4);
	const crash = injectWorkerFailure(engine, 0, true);
	const queued = engine.linear(new Float32Array(4), 1, w);
	await assert.rejects(crash, /ComputeEngine worker 0 exited unexpectedly \(exit code 70\)/);
	await assert.rejects(queued, /ComputeEngine worker 0 exited unexpectedly/);
	await assert.rejects(engine.packLinear(new Uint8Array(64), "F32", 4, 4), /exited unexpectedly/);
	await engine.close();
});

/** Runs a module script in a fresh node process (no V8 flags); resolves with its exit code and output. */
function runChild(script: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
		let stdout = "", stderr = "", timedOut = false;
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill("SIGKILL");
		}, timeoutMs);
		child.on("exit", (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr, timedOut });
		});
	});
}

const ENGINE_URL = new URL("../../src/kernels/index.js", import.meta.url).href;

test("a process exits by itself after close(), and also when it forgets close()", async () => {
	const work = `
		const { ComputeEngine, relaxedSimdSupported } = await import(${JSON.stringify(ENGINE_URL)});
		const before = relaxedSimdSupported();
		const engine = await ComputeEngine.create({ threads: 2 });
		const w = await engine.packLinear(new Uint8Array(8 * 8 * 2).fill(0x3f), "BF16", 8, 8);
		const y = await engine.linear(new Float32Array(16).fill(1), 2, w);
		console.log(JSON.stringify({ before, info: engine.info, y: y[0] }));
	`;
	const [closed, forgotten] = await Promise.all([
		runChild(`${work}\nawait engine.close();`, 15000),
		runChild(work, 15000),
	]);
	for (const [name, run] of [["with close()", closed], ["without close()", forgotten]] as const) {
		assert.equal(run.timedOut, false, `${name}: did not exit`);
		assert.equal(run.code, 0, `${name}: exit code ${run.code}, stderr: ${run.stderr}`);
		const result = JSON.parse(run.stdout);
		assert.equal(result.info.threads, 2);
		assert.equal(result.y, 8 * toF32(0x3f3f), `${name}: y`);
		// Node 20 (V8 11.3) has relaxed SIMD behind a flag, which "auto" turns on; later Nodes by default.
		assert.equal(result.info.relaxedSimd, true, `${name}: relaxed SIMD enabled`);
		if (process.versions.node.startsWith("20.")) assert.equal(result.before, false, "Node 20 has no relaxed SIMD by default");
	}
});

function toF32(bf16: number): number {
	return new Float32Array(new Uint32Array([bf16 << 16]).buffer)[0];
}
