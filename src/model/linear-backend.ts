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
	/**
	 * W [rows, cols] used where it is, in a raw buffer of this backend, without a packing pass (the
	 * kernel engine packs it piece by piece inside each product); optional. `raw` must stay unchanged
	 * until the weight is freed; releasing it then gives its memory back.
	 */
	rawLinear?(raw: RawBuffer, dtype: LinearDType, rows: number, cols: number): Promise<W>;
	/**
	 * The LoRA fold of a block of rows, fused: out = w + scale · (x · Wᵀ) with w [m, N] given as bytes,
	 * the same bits as linear() followed by `w + scale * d` in JavaScript into a Float32Array (and the
	 * conversion to bf16 when outDtype is BF16); optional (the kernel engine's runs in WebAssembly).
	 */
	foldLinear?(x: Float32Array, m: number, w: W, fold: { base: Uint8Array; baseDtype: "F32" | "BF16"; scale: number; out: Uint8Array; outDtype: "F32" | "BF16" }): Promise<void>;
	/** act = silu(gate) · up for `rows` rows laid out [gate | up] (see siluGate in silu-gate.ts); optional, faster there. */
	siluGate?(gateUp: Float32Array, act: Float32Array, rows: number, intermediate: number): Promise<void>;
}

/** The backend's raw buffer, or plain memory for a backend without one. */
export function takeRawBuffer(backend: LinearBackend, bytes: number): RawBuffer {
	return backend.rawBuffer?.(bytes) ?? { bytes: new Uint8Array(bytes), release: async () => {} };
}
