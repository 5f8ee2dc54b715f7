/** Small f64 vector helpers for gate rows (rows are few and short; precision matters more than speed). */

/** The smallest norm a row is divided by, like mergekit's `.clamp(min=1e-8)`. */
export const MIN_NORM = 1e-8;

/** Element-wise mean of equal-length vectors, in f64; zeros when there are none. */
export function meanOf(vectors: readonly ArrayLike<number>[], length: number): Float64Array {
	const out = new Float64Array(length);
	for (const v of vectors) {
		if (v.length !== length) throw new Error(`gate vector of length ${v.length}, expected ${length}`);
		for (let i = 0; i < length; i++) out[i] += v[i];
	}
	if (vectors.length > 0) for (let i = 0; i < length; i++) out[i] /= vectors.length;
	return out;
}

export function norm(v: ArrayLike<number>): number {
	let sum = 0;
	for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
	return Math.sqrt(sum);
}

/** v / max(|v|, 1e-8), in f64. */
export function normalized(v: ArrayLike<number>): Float64Array {
	const scale = 1 / Math.max(norm(v), MIN_NORM);
	const out = new Float64Array(v.length);
	for (let i = 0; i < v.length; i++) out[i] = v[i] * scale;
	return out;
}

/** a - b (b may be absent). */
export function minus(a: Float64Array, b: Float64Array | undefined): Float64Array {
	if (!b) return a;
	const out = new Float64Array(a.length);
	for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
	return out;
}

/** Cosine similarity; 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
	let dot = 0;
	for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
	const n = norm(a) * norm(b);
	return n === 0 ? 0 : dot / n;
}
