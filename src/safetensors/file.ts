/** One open safetensors file: the parsed header plus positional reads of tensor data. */
import { open, type FileHandle } from "node:fs/promises";
import { SafetensorsError } from "../errors.js";
import { HEADER_LENGTH_BYTES, parseHeaderLength, parseSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from "./header.js";
import { readFully } from "./positional-io.js";

/** Where a file's bytes come from: a local file handle, or a remote file read with range requests (src/hub/range-reader.ts). */
export interface ByteReader {
	/** Reads into `into` at `position`; returns how many bytes were read (fewer only at end of file). */
	read(into: Uint8Array, position: number): Promise<number>;
	close(): Promise<void>;
}

export class SafetensorsFile {
	readonly path: string;
	readonly size: number;
	readonly header: SafetensorsHeader;
	/** Absent for a file known by its header only (a Hub file whose header `plan` read with range requests). */
	private readonly reader: ByteReader | undefined;

	private constructor(path: string, size: number, header: SafetensorsHeader, reader: ByteReader | undefined) {
		this.path = path;
		this.size = size;
		this.header = header;
		this.reader = reader;
	}

	/** Opens the file and reads and validates its header; tensor data stays on disk. */
	static async open(path: string): Promise<SafetensorsFile> {
		let handle: FileHandle;
		try {
			handle = await open(path, "r");
		} catch (error) {
			throw new SafetensorsError(`${path}: cannot open safetensors file: ${describeIoError(error)}`, { file: path, cause: error });
		}
		try {
			const stats = await handle.stat();
			if (!stats.isFile()) throw new SafetensorsError(`${path}: not a regular file`, { file: path });
			const size = stats.size;
			const prefix = new Uint8Array(HEADER_LENGTH_BYTES);
			const prefixRead = await readFully(handle, prefix, 0);
			const headerLength = parseHeaderLength(prefix, prefixRead < HEADER_LENGTH_BYTES ? prefixRead : size, path);
			const json = new Uint8Array(headerLength);
			const jsonRead = await readFully(handle, json, HEADER_LENGTH_BYTES);
			// The file may have shrunk since fstat; then what we could read is the real size.
			const header = parseSafetensorsHeader(json, jsonRead < headerLength ? HEADER_LENGTH_BYTES + jsonRead : size, path);
			return new SafetensorsFile(path, size, header, { read: (into, position) => readFully(handle, into, position), close: () => handle.close() });
		} catch (error) {
			await handle.close().catch(() => undefined);
			if (error instanceof SafetensorsError) throw error;
			throw new SafetensorsError(`${path}: cannot read safetensors file: ${describeIoError(error)}`, { file: path, cause: error });
		}
	}

	/** A file known only by its size and already validated header, e.g. a remote one; its data cannot be read. */
	static fromHeader(path: string, size: number, header: SafetensorsHeader, reader?: ByteReader): SafetensorsFile {
		return new SafetensorsFile(path, size, header, reader);
	}

	/**
	 * Reads `length` bytes starting `offset` bytes into tensor `info`'s data, into `into` (a subarray is
	 * fine). Errors (a short read means the file was truncated) name the file and the tensor.
	 */
	async read(info: TensorInfo, offset: number, length: number, into: Uint8Array): Promise<void> {
		const tensorBytes = info.end - info.begin;
		if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= tensorBytes)) {
			throw new RangeError(`${this.path}: read of bytes [${offset}, ${offset + length}) is outside tensor "${info.name}" (${tensorBytes} bytes)`);
		}
		if (into.length < length) {
			throw new RangeError(`${this.path}: buffer of ${into.length} bytes is too small to read ${length} bytes of tensor "${info.name}"`);
		}
		if (!this.reader) throw new Error(`${this.path}: only the header of this file was read; its data cannot be`);
		const target = into.length === length ? into : into.subarray(0, length);
		let got: number;
		try {
			got = await this.reader.read(target, info.begin + offset);
		} catch (error) {
			throw new SafetensorsError(`${this.path}: cannot read tensor "${info.name}": ${describeIoError(error)}`, { file: this.path, cause: error });
		}
		if (got < length) {
			throw new SafetensorsError(
				`${this.path}: truncated: tensor "${info.name}" ends at byte ${info.end} but the file ended at byte ${info.begin + offset + got}`,
				{ file: this.path, hint: "the file changed or was cut short after it was opened; fetch it again" },
			);
		}
	}

	async close(): Promise<void> {
		await this.reader?.close();
	}
}

function describeIoError(error: unknown): string {
	const e = error as NodeJS.ErrnoException;
	return e?.code ? `${e.code} (${e.message})` : String((error as Error)?.message ?? error);
}
