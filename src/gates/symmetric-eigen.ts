/** Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations, in f64. */

const MAX_SWEEPS = 100;

/** `matrix` is n×n row-major and symmetric (left untouched); returns the eigenvalues, ascending. */
export function symmetricEigenvalues(matrix: ArrayLike<number>, n: number): Float64Array {
	const a = Float64Array.from(matrix);
	if (a.length !== n * n) throw new Error(`expected a ${n}x${n} matrix, got ${a.length} values`);
	let scale = 0;
	for (let i = 0; i < a.length; i++) scale += a[i] * a[i];
	for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
		let off = 0;
		for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
		if (off <= 1e-30 * scale) break;
		for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) rotate(a, n, p, q);
	}
	return Float64Array.from({ length: n }, (_, i) => a[i * n + i]).sort();
}

/** One Jacobi rotation zeroing a[p][q] (Golub & Van Loan, algorithm 8.4.1). */
function rotate(a: Float64Array, n: number, p: number, q: number): void {
	const apq = a[p * n + q];
	if (apq === 0) return;
	const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
	const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
	const c = 1 / Math.sqrt(t * t + 1);
	const s = t * c;
	for (let k = 0; k < n; k++) {
		const akp = a[k * n + p];
		const akq = a[k * n + q];
		a[k * n + p] = c * akp - s * akq;
		a[k * n + q] = s * akp + c * akq;
	}
	for (let k = 0; k < n; k++) {
		const apk = a[p * n + k];
		const aqk = a[q * n + k];
		a[p * n + k] = c * apk - s * aqk;
		a[q * n + k] = s * apk + c * aqk;
	}
}
