/**
 * What the forward pass needs from a matrix-multiply engine. `ComputeEngine` (src/kernels/) satisfies it
 * structurally; `ReferenceLinearBackend` (reference-linear.ts) is the plain-JS version tests compare it with.
 */
export type LinearDType = "F32" | "F16" | "BF16";

export interface LinearBackend<W = unknown> {
	/**
	 * Prepares W [rows = N, cols = K] (PyTorch Linear layout, raw little-endian bytes of `dtype`). The
	 * caller may reuse or drop `bytes` once the promise resolves.
	 */
	packLinear(bytes: Uint8Array, dtype: LinearDType, rows: number, cols: number): Promise<W>;
	/** y[m, N] = x[m, K] · Wᵀ (+ bias[N]), into `out` when given. */
	linear(x: Float32Array, m: number, w: W, o?: { bias?: Float32Array; out?: Float32Array }): Promise<Float32Array>;
	free(w: W): void;
}
