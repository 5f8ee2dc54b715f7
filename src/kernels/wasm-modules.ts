/** The compiled kernel modules, and whether this process can run relaxed SIMD. */
import { setFlagsFromString } from "node:v8";
import { KERNELS_RELAXED_WASM_BASE64, KERNELS_SIMD_WASM_BASE64 } from "./generated/kernels-wasm.js";
import { QUANTIZE_WASM_BASE64 } from "./generated/quantize-wasm.js";

/** (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd ...)) */
const RELAXED_PROBE = Buffer.from("AGFzbQEAAAABCAFgA3t7ewF7AwIBAAcFAQFmAAAKDQELACAAIAEgAv2FAgs=", "base64");

/** Whether WebAssembly in this process accepts relaxed-SIMD instructions right now. */
export function relaxedSimdSupported(): boolean {
	return WebAssembly.validate(RELAXED_PROBE);
}

/**
 * Makes relaxed SIMD available if the engine has it behind a flag. Node 22+ (V8 >= 11.4) has it on by
 * default. Node 20 (V8 11.3) needs `--experimental-wasm-relaxed-simd`, which is refused in
 * NODE_OPTIONS and in a Worker's execArgv (ERR_WORKER_INVALID_EXEC_ARGV), but works on the node
 * command line and through v8.setFlagsFromString before the module is compiled: V8 flags are
 * process-wide, so workers started afterwards have it too. Returns whether it is now supported.
 */
export function enableRelaxedSimd(): boolean {
	if (relaxedSimdSupported()) return true;
	try {
		setFlagsFromString("--experimental-wasm-relaxed-simd");
	} catch {
		// an engine without the flag: stays unsupported
	}
	return relaxedSimdSupported();
}

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/** The kernels module (compiled once per process and variant; a Module can be shared with workers). */
export function kernelsModule(relaxed: boolean): Promise<WebAssembly.Module> {
	let module = compiled.get(relaxed);
	if (!module) {
		const bytes = Buffer.from(relaxed ? KERNELS_RELAXED_WASM_BASE64 : KERNELS_SIMD_WASM_BASE64, "base64");
		module = WebAssembly.compile(bytes);
		module.catch(() => compiled.delete(relaxed));
		compiled.set(relaxed, module);
	}
	return module;
}

let quantize: Promise<WebAssembly.Module> | undefined;

/** The block quantizers (quantize.wat), compiled once per process. */
export function quantizeModule(): Promise<WebAssembly.Module> {
	quantize ??= WebAssembly.compile(Buffer.from(QUANTIZE_WASM_BASE64, "base64"));
	return quantize;
}
