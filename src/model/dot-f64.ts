/**
 * Σ a[ai + d] · b[bi + d] for d < n, in f64 (each product of two f32 is exact there). Four partial sums:
 * one running sum waits ~4 cycles per add, which made such loops the attention's main cost; the order
 * only moves the f64 rounding (~1e-16), which rounding the result to f32 hides.
 */
export function dotF64(a: Float32Array, ai: number, b: Float32Array, bi: number, n: number): number {
	let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	let d = 0;
	for (; d + 3 < n; d += 4) {
		s0 += a[ai + d]! * b[bi + d]!;
		s1 += a[ai + d + 1]! * b[bi + d + 1]!;
		s2 += a[ai + d + 2]! * b[bi + d + 2]!;
		s3 += a[ai + d + 3]! * b[bi + d + 3]!;
	}
	for (; d < n; d++) s0 += a[ai + d]! * b[bi + d]!;
	return s0 + s1 + s2 + s3;
}
