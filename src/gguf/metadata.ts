/**
 * GGUF metadata values, typed as the format types them (gguf.GGUFValueType), and their encoding.
 * Every key/value pair of a file is one GgufEntry; arrays hold values of one type.
 */

export type GgufScalarType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "u64" | "i64" | "f64";

export type GgufValue =
	| { type: GgufScalarType; value: number | boolean | bigint }
	| { type: "string"; value: string }
	| { type: "array"; itemType: GgufScalarType | "string"; values: readonly (number | boolean | bigint | string)[] };

export interface GgufEntry {
	key: string;
	value: GgufValue;
}

/** gguf.GGUFValueType. */
export const GGUF_VALUE_TYPE: Readonly<Record<GgufScalarType | "string" | "array", number>> = {
	u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
};

const SCALAR_BYTES: Readonly<Record<GgufScalarType, number>> = {
	u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8,
};

export const u32 = (key: string, value: number): GgufEntry => ({ key, value: { type: "u32", value } });
export const f32 = (key: string, value: number): GgufEntry => ({ key, value: { type: "f32", value } });
export const bool = (key: string, value: boolean): GgufEntry => ({ key, value: { type: "bool", value } });
export const str = (key: string, value: string): GgufEntry => ({ key, value: { type: "string", value } });
export const arr = (key: string, itemType: GgufScalarType | "string", values: readonly (number | boolean | bigint | string)[]): GgufEntry => ({
	key,
	value: { type: "array", itemType, values },
});

/** Appends little-endian bytes to a growing buffer. */
export class ByteSink {
	private buffer = Buffer.alloc(1 << 16);
	length = 0;

	private room(n: number): void {
		if (this.length + n <= this.buffer.length) return;
		const bigger = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + n));
		this.buffer.copy(bigger, 0, 0, this.length);
		this.buffer = bigger;
	}

	u32(v: number): void {
		this.room(4);
		this.length = this.buffer.writeUInt32LE(v, this.length);
	}

	u64(v: number | bigint): void {
		this.room(8);
		this.length = this.buffer.writeBigUInt64LE(BigInt(v), this.length);
	}

	string(s: string): void {
		const bytes = Buffer.from(s, "utf8");
		this.u64(bytes.length);
		this.bytes(bytes);
	}

	bytes(b: Uint8Array): void {
		this.room(b.length);
		this.buffer.set(b, this.length);
		this.length += b.length;
	}

	zeros(n: number): void {
		this.room(n);
		this.buffer.fill(0, this.length, this.length + n);
		this.length += n;
	}

	scalar(type: GgufScalarType, v: number | boolean | bigint): void {
		this.room(SCALAR_BYTES[type]);
		const b = this.buffer;
		const at = this.length;
		const n = typeof v === "boolean" ? Number(v) : v;
		switch (type) {
			case "u8": b.writeUInt8(Number(n), at); break;
			case "i8": b.writeInt8(Number(n), at); break;
			case "u16": b.writeUInt16LE(Number(n), at); break;
			case "i16": b.writeInt16LE(Number(n), at); break;
			case "u32": b.writeUInt32LE(Number(n), at); break;
			case "i32": b.writeInt32LE(Number(n), at); break;
			case "f32": b.writeFloatLE(Number(n), at); break;
			case "bool": b.writeUInt8(n ? 1 : 0, at); break;
			case "u64": b.writeBigUInt64LE(BigInt(n), at); break;
			case "i64": b.writeBigInt64LE(BigInt(n), at); break;
			case "f64": b.writeDoubleLE(Number(n), at); break;
		}
		this.length += SCALAR_BYTES[type];
	}

	entry({ key, value }: GgufEntry): void {
		this.string(key);
		this.u32(GGUF_VALUE_TYPE[value.type]);
		if (value.type === "string") this.string(value.value);
		else if (value.type === "array") {
			this.u32(GGUF_VALUE_TYPE[value.itemType]);
			this.u64(value.values.length);
			for (const item of value.values) {
				if (value.itemType === "string") this.string(String(item));
				else this.scalar(value.itemType, item as number | boolean | bigint);
			}
		} else this.scalar(value.type, value.value);
	}

	take(): Buffer {
		return this.buffer.subarray(0, this.length);
	}
}
