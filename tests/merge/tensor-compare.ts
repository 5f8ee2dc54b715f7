import { type DType, ModelWeights, convertDtype, dtypeBytes } from "../../src/safetensors/index.js";

/** All bytes of one tensor, converted to `dtype` with the project's converter (itself tested against a reference). */
export async function tensorBytes(weights: ModelWeights, name: string, dtype?: DType): Promise<Uint8Array> {
	const { file, info } = weights.get(name);
	const raw = new Uint8Array(info.end - info.begin);
	await file.read(info, 0, raw.byteLength, raw);
	if (!dtype || dtype === info.dtype) return raw;
	const count = raw.byteLength / dtypeBytes(info.dtype);
	const out = new Uint8Array(count * dtypeBytes(dtype));
	convertDtype(raw, info.dtype, out, dtype, count);
	return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
	return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
