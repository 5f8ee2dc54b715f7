/** CPU compute kernels (WebAssembly SIMD on worker threads) for the forward pass. */
export {
	ComputeEngine,
	type ComputeEngineOptions,
	type KernelInfo,
	type LinearDType,
	type LinearOptions,
	type RawBuffer,
	type PackedLinear,
} from "./engine.js";
export { type EncodeTarget } from "./encode-range.js";
export { relaxedSimdSupported } from "./wasm-modules.js";
