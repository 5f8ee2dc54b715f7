/**
 * RMSNorm as transformers' LlamaRMSNorm computes it in float32: y = w * f32(x * rsqrt(mean(x²) + eps)).
 * The sum of squares is accumulated in f64 (torch's f32 reduction is within an ulp or two of it).
 */
const f = Math.fround;

/** Normalises `dim` values of `src` from `si` into `dst` from `di` (may alias). */
function normalise(src: Float32Array, si: number, dst: Float32Array, di: number, dim: number, weight: Float32Array, eps: number): void {
	let sum = 0;
	for (let i = 0; i < dim; i++) {
		const v = src[si + i]!;
		sum += v * v;
	}
	const r = f(1 / Math.sqrt(f(f(sum / dim) + eps)));
	for (let i = 0; i < dim; i++) dst[di + i] = weight[i]! * f(src[si + i]! * r);
}

/** Each of `rows` contiguous rows of `dim` values, from `x` into `out`. */
export function rmsNorm(x: Float32Array, out: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number): void {
	for (let r = 0; r < rows; r++) normalise(x, r * dim, out, r * dim, dim, weight, eps);
}

/**
 * In place, each of `heads` head vectors of `dim` values that start `offset` values into each of `rows`
 * rows of `stride` values (Qwen3's q_norm / k_norm over the fused q/k/v projection).
 */
export function rmsNormHeads(buf: Float32Array, rows: number, stride: number, offset: number, heads: number, dim: number, weight: Float32Array, eps: number): void {
	for (let r = 0; r < rows; r++) {
		for (let h = 0; h < heads; h++) {
			const at = r * stride + offset + h * dim;
			normalise(buf, at, buf, at, dim, weight, eps);
		}
	}
}
