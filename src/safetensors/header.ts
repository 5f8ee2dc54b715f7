/**
 * Strict parsing of a safetensors header. We follow the official Rust parser: the tensors must tile
 * the data area exactly (no overlap, no gap, nothing after the last tensor), so any corruption or
 * truncation is caught when the file is opened, not halfway through a 50 GB merge.
 */
import { SafetensorsError } from "../errors.js";
import { DTYPES, dtypeBytes, isDType, type DType } from "./dtype.js";
import { findDuplicateKey } from "./json-duplicates.js";

export interface TensorInfo {
	name: string;
	dtype: DType;
	shape: number[];
	/** absolute byte offsets in the file */
	begin: number;
	end: number;
}

export interface SafetensorsHeader {
	metadata: Record<string, string>;
	tensors: Map<string, TensorInfo>;
	/** absolute offset where data starts (8 + N) */
	dataStart: number;
}

/** Size of the little-endian u64 that precedes the header JSON. */
export const HEADER_LENGTH_BYTES = 8;
/** The official parser's cap; a bigger length means a corrupt prefix or not a safetensors file. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = "__metadata__";
const TRUNCATED_HINT = "the file is incomplete (interrupted download or copy?); fetch it again";

/** Decodes and checks the 8-byte header length prefix; returns N, the header JSON length. */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
	if (fileSize < HEADER_LENGTH_BYTES || prefix.length < HEADER_LENGTH_BYTES) {
		fail(file, `file is ${fileSize} bytes, too short for a safetensors file (at least ${HEADER_LENGTH_BYTES})`);
	}
	const length = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_BYTES).getBigUint64(0, true);
	if (length === 0n) fail(file, "header length is 0");
	if (length > BigInt(MAX_HEADER_BYTES)) {
		fail(file, `header length ${length} bytes exceeds the ${MAX_HEADER_BYTES / 1e6} MB limit (corrupt file or not safetensors?)`);
	}
	const n = Number(length);
	if (HEADER_LENGTH_BYTES + n > fileSize) {
		fail(file, `truncated: the header is ${n} bytes but the file has only ${fileSize - HEADER_LENGTH_BYTES} after the length prefix`, TRUNCATED_HINT);
	}
	return n;
}

/** Parses and validates the header JSON (the N bytes after the length prefix) of a file of `fileSize` bytes. */
export function parseSafetensorsHeader(headerJsonBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
	const dataStart = HEADER_LENGTH_BYTES + headerJsonBytes.length;
	if (headerJsonBytes.length === 0) fail(file, "header length is 0");
	if (headerJsonBytes.length > MAX_HEADER_BYTES) fail(file, `header is ${headerJsonBytes.length} bytes, over the ${MAX_HEADER_BYTES / 1e6} MB limit`);
	if (dataStart > fileSize) fail(file, `truncated: the header ends at byte ${dataStart} but the file has ${fileSize} bytes`, TRUNCATED_HINT);

	const text = decodeUtf8(headerJsonBytes, file);
	// Like the official parser (serde_json): JSON whitespace may pad the header on both sides (writers
	// may align the data to a page); a BOM or anything else before the object is refused.
	if (!JSON_OBJECT_START.test(text)) fail(file, "header is not a JSON object (it does not start with '{')");
	let json: unknown;
	try {
		json = JSON.parse(text);
	} catch (error) {
		fail(file, `header is not valid JSON (${(error as Error).message})`);
	}
	if (!isJsonObject(json)) fail(file, "header is not a JSON object");
	const duplicate = findDuplicateKey(text);
	if (duplicate !== undefined) fail(file, `header has the key ${quote(duplicate)} twice`);

	let metadata: Record<string, string> = {};
	const tensors: TensorInfo[] = [];
	for (const [name, entry] of Object.entries(json)) {
		if (name === METADATA_KEY) metadata = parseMetadata(entry, file);
		else tensors.push(parseTensorEntry(name, entry, dataStart, file));
	}
	checkTensorsTileData(tensors, dataStart, fileSize, file);
	return { metadata, tensors: new Map(tensors.map((t) => [t.name, t])), dataStart };
}

/** JSON's whitespace (space, tab, LF, CR), then the object. */
const JSON_OBJECT_START = /^[ \t\n\r]*\{/;

function decodeUtf8(bytes: Uint8Array, file: string): string {
	try {
		// ignoreBOM keeps a BOM in the text, so the object check rejects it as the official parser does.
		return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
	} catch {
		fail(file, "header is not valid UTF-8");
	}
}

function parseMetadata(entry: unknown, file: string): Record<string, string> {
	if (!isJsonObject(entry)) fail(file, `"${METADATA_KEY}" must be an object of strings, got ${preview(entry)}`);
	for (const [key, value] of Object.entries(entry)) {
		if (typeof value !== "string") fail(file, `"${METADATA_KEY}" must map strings to strings, but ${quote(key)} is ${preview(value)}`);
	}
	// fromEntries defines own properties, so a "__proto__" key stays a plain key.
	return Object.fromEntries(Object.entries(entry)) as Record<string, string>;
}

function parseTensorEntry(name: string, entry: unknown, dataStart: number, file: string): TensorInfo {
	if (name === "") fail(file, "a tensor has an empty name");
	const what = `tensor ${quote(name)}`;
	if (!isJsonObject(entry)) fail(file, `${what}: entry must be an object with dtype, shape and data_offsets, got ${preview(entry)}`);
	const { dtype, shape, data_offsets: offsets } = entry;
	if (!isDType(dtype)) fail(file, `${what}: unknown dtype ${preview(dtype)} (expected one of ${DTYPES.join(", ")})`);
	if (!Array.isArray(shape) || !shape.every(isSafeNonNegativeInteger)) {
		fail(file, `${what}: shape must be an array of non-negative integers, got ${preview(shape)}`);
	}
	if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegativeInteger) || offsets[0] > offsets[1]) {
		fail(file, `${what}: data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${preview(offsets)}`);
	}
	const [begin, end] = offsets as [number, number];
	const expected = byteSize(shape as number[], dtype);
	if (expected === undefined) fail(file, `${what}: shape ${preview(shape)} is too large`);
	if (end - begin !== expected) {
		fail(file, `${what}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${preview(shape)} needs ${expected}`);
	}
	return {
		name,
		dtype,
		// `+ 0` turns a JSON -0 into 0.
		shape: (shape as number[]).map((d) => d + 0),
		begin: dataStart + begin,
		end: dataStart + end,
	};
}

/** Bytes of a tensor, or undefined if it does not fit a safe integer. */
function byteSize(shape: number[], dtype: DType): number | undefined {
	if (shape.includes(0)) return 0;
	let size = dtypeBytes(dtype);
	for (const d of shape) {
		size *= d;
		if (!Number.isSafeInteger(size)) return undefined;
	}
	return size;
}

/** The tensors must cover the data area exactly: sorted by offset, each starts where the last ended. */
function checkTensorsTileData(tensors: TensorInfo[], dataStart: number, fileSize: number, file: string): void {
	// Truncation first: it is the likeliest cause and the message says what to do.
	for (const t of tensors) {
		if (t.end > fileSize) {
			fail(file, `truncated: tensor ${quote(t.name)} needs bytes up to ${t.end} but the file has only ${fileSize}`, TRUNCATED_HINT);
		}
	}
	const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
	let cursor = dataStart;
	let previous: TensorInfo | undefined;
	for (const t of sorted) {
		if (t.begin < cursor) {
			fail(file, `tensors ${quote(previous!.name)} and ${quote(t.name)} overlap (data bytes ${range(previous!, dataStart)} and ${range(t, dataStart)})`);
		}
		if (t.begin > cursor) {
			const after = previous ? `after tensor ${quote(previous.name)}` : "at the start of the data";
			fail(file, `gap of ${t.begin - cursor} unused bytes ${after}, before tensor ${quote(t.name)}`);
		}
		cursor = t.end;
		previous = t;
	}
	if (cursor < fileSize) {
		fail(file, `trailing bytes: the tensors end at byte ${cursor} but the file has ${fileSize} bytes (${fileSize - cursor} extra)`);
	}
}

function range(t: TensorInfo, dataStart: number): string {
	return `[${t.begin - dataStart}, ${t.end - dataStart})`;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSafeNonNegativeInteger(value: unknown): value is number {
	return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function quote(name: string): string {
	return JSON.stringify(name);
}

/** Short JSON rendering of a bad value for an error message. */
function preview(value: unknown): string {
	const text = value === undefined ? "nothing" : JSON.stringify(value);
	return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function fail(file: string, cause: string, hint?: string): never {
	throw new SafetensorsError(`${file}: invalid safetensors file: ${cause}`, { file, hint });
}
