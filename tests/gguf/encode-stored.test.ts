/** encodeStored converts F16/BF16/F32 bytes straight to the GGUF float types: the same bytes as through f32 values, for every 16-bit value. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromFloat32, toFloat32 } from "../../src/safetensors/convert.js";
import type { DType } from "../../src/safetensors/dtype.js";
import { GGUF_TENSOR_TYPES, encodeStored } from "../../src/gguf/tensor-types.js";

const ALL_16_BIT = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);

for (const dtype of ["F16", "BF16"] as const satisfies readonly DType[]) {
	test(`every ${dtype} value: straight to f32, f16, bf16 as through f32 values`, () => {
		const values = toFloat32(ALL_16_BIT, dtype, 65536);
		for (const type of [GGUF_TENSOR_TYPES.f32, GGUF_TENSOR_TYPES.f16, GGUF_TENSOR_TYPES.bf16]) {
			const straight = encodeStored(ALL_16_BIT, dtype, type, 65536);
			const through = fromFloat32(values, type.dtype!);
			// NaNs may keep different payloads; they must stay NaN. Every other value: the same bits.
			const width = type.typeSize;
			for (let i = 0; i < 65536; i++) {
				const a = straight.subarray(i * width, (i + 1) * width);
				const b = through.subarray(i * width, (i + 1) * width);
				if (Number.isNaN(values[i]!)) {
					assert.ok(Number.isNaN(toFloat32(a, type.dtype!, 1)[0]!), `${dtype} ${i} -> ${type.name}: NaN`);
					continue;
				}
				assert.deepEqual(a, b, `${dtype} 0x${i.toString(16)} -> ${type.name}`);
			}
		}
	});
}
