/** Element types of the safetensors format and their sizes. */
export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2";

const DTYPE_BYTES: Readonly<Record<DType, number>> = {
	F64: 8,
	F32: 4,
	F16: 2,
	BF16: 2,
	I64: 8,
	I32: 4,
	I16: 2,
	I8: 1,
	U8: 1,
	BOOL: 1,
	F8_E4M3: 1,
	F8_E5M2: 1,
};

/** Every dtype we accept, in the order used in error messages. */
export const DTYPES: readonly DType[] = Object.keys(DTYPE_BYTES) as DType[];

export function isDType(value: unknown): value is DType {
	// hasOwn, not `in`: "toString" must not count as a dtype.
	return typeof value === "string" && Object.hasOwn(DTYPE_BYTES, value);
}

/** Bytes per element. */
export function dtypeBytes(d: DType): number {
	const bytes = DTYPE_BYTES[d];
	if (bytes === undefined) throw new Error(`unknown dtype ${String(d)}`);
	return bytes;
}

/** The float dtypes a merge writes, by their torch names (config.json's torch_dtype, the recipe's dtype): the one table both ways. */
const TORCH_NAMES = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const;

export type FloatDType = keyof typeof TORCH_NAMES;

/** The torch name of a float dtype ("bfloat16" for BF16). */
export function torchDTypeName(dtype: FloatDType): string {
	return TORCH_NAMES[dtype];
}

export function isFloatDType(dtype: DType): dtype is FloatDType {
	return Object.hasOwn(TORCH_NAMES, dtype);
}

/** The dtype a torch name stands for; undefined for any name other than float32, float16 and bfloat16. */
export function dtypeOfTorchName(name: string): FloatDType | undefined {
	return (Object.keys(TORCH_NAMES) as FloatDType[]).find((d) => TORCH_NAMES[d] === name);
}
