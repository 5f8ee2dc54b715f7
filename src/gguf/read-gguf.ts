/**
 * Reads and checks the header of a GGUF file (version 2 or 3, little-endian): metadata, tensor table,
 * and that the table fits the file (types known, offsets aligned and in order, the data of each tensor
 * inside the file, nothing overlapping). For `moe-merge verify` and the tests; tensor data is not read.
 */
import { open } from "node:fs/promises";
import { CheckpointError } from "../errors.js";
import { DEFAULT_ALIGNMENT, GGUF_MAGIC } from "./layout.js";
import { GGUF_VALUE_TYPE, type GgufScalarType } from "./metadata.js";
import { GGUF_TENSOR_TYPES, type GgufTensorType, tensorBytes } from "./tensor-types.js";

export interface GgufTableEntry {
	name: string;
	/** Shape as PyTorch writes it (outermost first). */
	shape: number[];
	type: GgufTensorType;
	/** Absolute offset of the data. */
	offset: number;
	bytes: number;
}

export interface GgufHeader {
	version: number;
	metadata: Map<string, unknown>;
	tensors: GgufTableEntry[];
	alignment: number;
	/** Where the tensor data starts. */
	dataStart: number;
	fileBytes: number;
}

const TYPE_BY_ID = new Map(Object.values(GGUF_TENSOR_TYPES).map((t) => [t.ggmlType, t]));
const VALUE_TYPE_NAMES = new Map(Object.entries(GGUF_VALUE_TYPE).map(([name, id]) => [id, name]));
/** Header bytes read at most (metadata with a 150k-token vocabulary is ~5 MB). */
const MAX_HEADER_BYTES = 256 << 20;

/** The header goes on past the bytes read: read more (or, at the end of the file or the cap, the file is bad). */
class HeaderEndsEarly extends CheckpointError {}

class Cursor {
	at = 0;
	constructor(private readonly buffer: Buffer, private readonly file: string) {}

	need(n: number): void {
		if (this.at + n > this.buffer.length) throw new HeaderEndsEarly(`${this.file}: GGUF header ends early (at byte ${this.at})`, { file: this.file });
	}
	u32(): number {
		this.need(4);
		const v = this.buffer.readUInt32LE(this.at);
		this.at += 4;
		return v;
	}
	u64(): number {
		this.need(8);
		const v = this.buffer.readBigUInt64LE(this.at);
		this.at += 8;
		if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${this.file}: GGUF count or size ${v} is too large`, { file: this.file });
		return Number(v);
	}
	string(): string {
		const n = this.u64();
		this.need(n);
		const s = this.buffer.toString("utf8", this.at, this.at + n);
		this.at += n;
		return s;
	}
	scalar(type: GgufScalarType): number | bigint | boolean {
		const b = this.buffer;
		const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 }[type];
		this.need(size);
		const at = this.at;
		this.at += size;
		switch (type) {
			case "u8": return b.readUInt8(at);
			case "i8": return b.readInt8(at);
			case "u16": return b.readUInt16LE(at);
			case "i16": return b.readInt16LE(at);
			case "u32": return b.readUInt32LE(at);
			case "i32": return b.readInt32LE(at);
			case "f32": return b.readFloatLE(at);
			case "bool": return b.readUInt8(at) !== 0;
			case "u64": return b.readBigUInt64LE(at);
			case "i64": return b.readBigInt64LE(at);
			case "f64": return b.readDoubleLE(at);
		}
	}
	value(typeId: number): unknown {
		const type = VALUE_TYPE_NAMES.get(typeId);
		if (type === undefined) throw new CheckpointError(`${this.file}: unknown GGUF value type ${typeId}`, { file: this.file });
		if (type === "string") return this.string();
		if (type === "array") {
			const itemType = this.u32();
			const n = this.u64();
			const values: unknown[] = [];
			for (let i = 0; i < n; i++) values.push(this.value(itemType));
			return values;
		}
		return this.scalar(type as GgufScalarType);
	}
}

/** Bytes read first; more (4x each time, up to the cap) while the header goes on: most headers are a few MB. */
const FIRST_READ_BYTES = 4 << 20;

export async function readGgufHeader(file: string): Promise<GgufHeader> {
	const handle = await open(file, "r");
	try {
		const fileBytes = (await handle.stat()).size;
		const limit = Math.min(fileBytes, MAX_HEADER_BYTES);
		for (let size = Math.min(limit, FIRST_READ_BYTES); ; size = Math.min(limit, size * 4)) {
			const buffer = Buffer.alloc(size);
			await handle.read(buffer, 0, size, 0);
			try {
				return parseGgufHeader(buffer, file, fileBytes);
			} catch (error) {
				if (!(error instanceof HeaderEndsEarly) || size === limit) throw error;
			}
		}
	} finally {
		await handle.close();
	}
}

function parseGgufHeader(buffer: Buffer, file: string, fileBytes: number): GgufHeader {
	const c = new Cursor(buffer, file);
	if (fileBytes < 24 || c.u32() !== GGUF_MAGIC) throw new CheckpointError(`${file}: not a GGUF file (no GGUF magic)`, { file });
	const version = c.u32();
	if (version !== 2 && version !== 3) throw new CheckpointError(`${file}: GGUF version ${version}; versions 2 and 3 are read`, { file });
	const tensorCount = c.u64();
	const kvCount = c.u64();
	const metadata = new Map<string, unknown>();
	for (let i = 0; i < kvCount; i++) {
		const key = c.string();
		if (metadata.has(key)) throw new CheckpointError(`${file}: metadata key ${key} appears twice`, { file });
		metadata.set(key, c.value(c.u32()));
	}
	const alignment = Number(metadata.get("general.alignment") ?? DEFAULT_ALIGNMENT);
	const table: { name: string; shape: number[]; typeId: number; relative: number }[] = [];
	for (let i = 0; i < tensorCount; i++) {
		const name = c.string();
		const dims = c.u32();
		const ne: number[] = [];
		for (let d = 0; d < dims; d++) ne.push(c.u64());
		table.push({ name, shape: ne.reverse(), typeId: c.u32(), relative: c.u64() });
	}
	const dataStart = Math.ceil(c.at / alignment) * alignment;
	const tensors: GgufTableEntry[] = [];
	let end = dataStart;
	const names = new Set<string>();
	for (const t of [...table].sort((a, b) => a.relative - b.relative)) {
		const type = TYPE_BY_ID.get(t.typeId);
		if (!type) throw new CheckpointError(`${file}: tensor ${t.name} has ggml type ${t.typeId}, which moe-merge does not read`, { file });
		if (names.has(t.name)) throw new CheckpointError(`${file}: tensor ${t.name} appears twice`, { file });
		names.add(t.name);
		const offset = dataStart + t.relative;
		const bytes = tensorBytes(type, t.shape.reduce((a, b) => a * b, 1));
		if (t.relative % alignment !== 0) throw new CheckpointError(`${file}: tensor ${t.name} at offset ${t.relative} is not aligned to ${alignment}`, { file });
		if (offset < end) throw new CheckpointError(`${file}: tensor ${t.name} overlaps the one before it`, { file });
		if (offset + bytes > fileBytes) throw new CheckpointError(`${file}: tensor ${t.name} ends at byte ${offset + bytes}, past the end of the file (${fileBytes} bytes): truncated`, { file });
		end = offset + bytes;
		tensors.push({ name: t.name, shape: t.shape, type, offset, bytes });
	}
	return { version, metadata, tensors: tensors.sort((a, b) => table.findIndex((t) => t.name === a.name) - table.findIndex((t) => t.name === b.name)), alignment, dataStart, fileBytes };
}
