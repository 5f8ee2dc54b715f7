import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelExports } from "../../src/kernels/protocol.js";
import { enableRelaxedSimd, kernelsModule } from "../../src/kernels/wasm-modules.js";
import { toFloat32 } from "../../src/safetensors/index.js";

/** The kernels module instantiated on a fresh shared memory, for calling single kernels. */
async function instantiate(relaxed: boolean): Promise<{ kernels: KernelExports; memory: WebAssembly.Memory }> {
	if (relaxed) assert.ok(enableRelaxedSimd());
	const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
	const kernels = new WebAssembly.Instance(await kernelsModule(relaxed), { env: { memory } }).exports as unknown as KernelExports;
	return { kernels, memory };
}

for (const relaxed of [false, true]) {
	const variant = relaxed ? "relaxed" : "simd";

	test(`${variant}: cvt_f16_f32 and cvt_bf16_f32 are bit-exact for all 65536 values (NaN payloads too), at any offset and count`, async () => {
		const { kernels, memory } = await instantiate(relaxed);
		const all = new Uint16Array(65536).map((_, i) => i);
		for (const [dtype, convert] of [["F16", kernels.cvt_f16_f32], ["BF16", kernels.cvt_bf16_f32]] as const) {
			const expected = new Uint32Array(toFloat32(new Uint8Array(all.buffer), dtype, 65536).buffer);
			// Unaligned source (odd byte offset) and a count that leaves a scalar tail.
			const src = 1 << 16 | 1, dst = 1 << 20;
			new Uint8Array(memory.buffer, src, 131072).set(new Uint8Array(all.buffer));
			convert(src, dst, 65536);
			const got = new Uint32Array(memory.buffer, dst, 65536);
			for (let i = 0; i < 65536; i++) {
				if (got[i] !== expected[i]) assert.fail(`${dtype} 0x${i.toString(16)}: got 0x${got[i].toString(16)}, expected 0x${expected[i].toString(16)}`);
			}
			for (const n of [0, 1, 3, 5, 7, 9, 15]) {
				const guard = new Uint32Array(memory.buffer, dst, 20).fill(0xdeadbeef);
				convert(src, dst, n);
				for (let i = 0; i < 20; i++) assert.equal(guard[i], i < n ? expected[i] : 0xdeadbeef, `${dtype} n=${n} [${i}]`);
			}
		}
	});

	test(`${variant}: copy_f32 copies exactly n values`, async () => {
		const { kernels, memory } = await instantiate(relaxed);
		const src = 4100, dst = 65536;
		const values = new Uint32Array(40).map((_, i) => 0x7fc00000 + i);
		new Uint8Array(memory.buffer, src, 160).set(new Uint8Array(values.buffer));
		for (const n of [0, 1, 7, 8, 9, 17, 40]) {
			const out = new Uint32Array(memory.buffer, dst, 41).fill(1);
			kernels.copy_f32(src, dst, n);
			for (let i = 0; i < 41; i++) assert.equal(out[i], i < n ? values[i] : 1, `n=${n} [${i}]`);
		}
	});
}
