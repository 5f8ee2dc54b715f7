/**
 * What the forward pass needs from a matrix-multiply engine. `ComputeEngine` (src/kernels/) satisfies it
 * structurally; `ReferenceLinearBackend` (reference-linear.ts) is the plain-JS yardstick of the tests.
 */
export type LinearDType = "F32" | "F16" | "BF16";

/** Memory for raw weight bytes that the backend can pack without copying them first. */
export interface RawBuffer {
	readonly bytes: Uint8Array;
	/** Gives the memory back once the packs queued from it are done. */
	release(): Promise<void>;
}

export interface LinearBackend<W = unknown> {
	/**
	 * Prepares W [rows = N, cols = K] (PyTorch Linear layout, raw little-endian bytes of `dtype`). The
	 * caller may reuse or drop `bytes` once the promise resolves.
	 */
	packLinear(bytes: Uint8Array, dtype: LinearDType, rows: number, cols: number): Promise<W>;
	/** y[m, N] = x[m, K] · Wᵀ (+ bias[N]), into `out` when given. */
	linear(x: Float32Array, m: number, w: W, o?: { bias?: Float32Array; out?: Float32Array }): Promise<Float32Array>;
	free(w: W): void;
	/** Where to read raw weights so that packing them needs no copy (the kernel engine's shared memory); optional. */
	rawBuffer?(bytes: number): RawBuffer;
}

/** The backend's raw buffer, or plain memory for a backend without one. */
export function takeRawBuffer(backend: LinearBackend, bytes: number): RawBuffer {
	return backend.rawBuffer?.(bytes) ?? { bytes: new Uint8Array(bytes), release: async () => {} };
}
