/**
 * TEST / REFERENCE PATH: a plain-JS LinearBackend (weights decoded to f32, dot products accumulated in
 * f64). It is the yardstick the kernel engine is compared with in tests; the product always computes
 * with the kernel engine (src/kernels/), there is no fallback to this.
 */
import { toFloat32 } from "../safetensors/index.js";
import { dotF64 } from "./dot-f64.js";
import type { LinearBackend, LinearDType } from "./linear-backend.js";

export interface ReferenceLinear {
	readonly rows: number;
	readonly cols: number;
	/** [rows, cols] f32; emptied by free(). */
	w: Float32Array;
}

export class ReferenceLinearBackend implements LinearBackend<ReferenceLinear> {
	async packLinear(bytes: Uint8Array, dtype: LinearDType, rows: number, cols: number): Promise<ReferenceLinear> {
		const count = rows * cols;
		const width = dtype === "F32" ? 4 : 2;
		if (bytes.length !== count * width) throw new RangeError(`packLinear: ${bytes.length} bytes for a ${rows}x${cols} ${dtype} matrix`);
		// toFloat32 copies, so the caller's bytes can be reused.
		return { rows, cols, w: toFloat32(bytes, dtype, count) };
	}

	async linear(x: Float32Array, m: number, packed: ReferenceLinear, o: { bias?: Float32Array; out?: Float32Array } = {}): Promise<Float32Array> {
		const { rows: n, cols: k, w } = packed;
		if (w.length !== n * k) throw new Error("linear: the matrix was freed");
		// As strict as the kernel engine, so a caller that passes the reference tests passes with it too.
		if (x.length !== m * k) throw new RangeError(`linear: x holds ${x.length} values, ${m}x${k} expected`);
		if (o.bias && o.bias.length !== n) throw new RangeError(`linear: bias holds ${o.bias.length} values, ${n} expected`);
		const y = o.out ?? new Float32Array(m * n);
		if (y.length < m * n) throw new RangeError(`linear: out holds ${y.length} values, ${m}x${n} needed`);
		const bias = o.bias;
		for (let i = 0; i < m; i++) {
			const xo = i * k;
			for (let j = 0; j < n; j++) {
				y[i * n + j] = dotF64(x, xo, w, j * k, k) + (bias ? bias[j]! : 0);
			}
		}
		return y;
	}

	free(packed: ReferenceLinear): void {
		packed.w = new Float32Array(0);
	}
}
