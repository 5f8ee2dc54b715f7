/**
 * Writes one GGUF file front to back from its layout: the header, then each tensor's bytes in table
 * order, zero padding after each to the alignment. Tensor data is handed over in pieces of any size
 * (an expert slice of a stacked tensor, a chunk of a big one), so memory stays bounded by the caller's
 * piece. The sha256 is computed while writing (for the lock).
 */
import { SequentialFileWriter } from "../safetensors/sequential-file-writer.js";
import type { GgufLayout, PlacedTensor } from "./layout.js";

export class GgufWriter {
	private tensorIndex = 0;
	/** Bytes of the current tensor written so far. */
	private filled = 0;

	private constructor(readonly layout: GgufLayout, private readonly file: SequentialFileWriter) {}

	static async open(path: string, layout: GgufLayout): Promise<GgufWriter> {
		const file = await SequentialFileWriter.open(path, { sha256: true });
		try {
			await file.append(layout.header);
		} catch (error) {
			await file.abort();
			throw error;
		}
		const writer = new GgufWriter(layout, file);
		await writer.padEmptyTensors();
		return writer;
	}

	get path(): string {
		return this.file.path;
	}

	/** The tensor the next bytes belong to, or undefined when all are written. */
	get current(): PlacedTensor | undefined {
		return this.layout.tensors[this.tensorIndex];
	}

	/** Appends bytes of the current tensor (they may complete it and start no other). */
	async write(bytes: Uint8Array): Promise<void> {
		const tensor = this.current;
		if (!tensor) throw new Error(`${this.path}: bug: tensor data written past the last tensor`);
		if (this.filled + bytes.length > tensor.bytes) {
			throw new Error(`${this.path}: bug: ${this.filled + bytes.length} bytes written for ${tensor.name}, which has ${tensor.bytes}`);
		}
		await this.file.append(bytes);
		this.filled += bytes.length;
		if (this.filled === tensor.bytes) {
			await this.file.append(new Uint8Array(padding(tensor.bytes, this.layout.alignment)));
			this.tensorIndex++;
			this.filled = 0;
			await this.padEmptyTensors();
		}
	}

	/** Checks every tensor was written, fdatasyncs and closes; returns the file's sha256. */
	async finish(): Promise<string> {
		const missing = this.current;
		if (missing) throw new Error(`${this.path}: bug: finished with tensor ${missing.name} incomplete (${this.filled} of ${missing.bytes} bytes)`);
		if (this.file.position !== this.layout.fileBytes) throw new Error(`${this.path}: bug: wrote ${this.file.position} bytes, laid out ${this.layout.fileBytes}`);
		await this.file.finish();
		return this.file.sha256!;
	}

	async abort(): Promise<void> {
		await this.file.abort();
	}

	private async padEmptyTensors(): Promise<void> {
		while (this.current && this.current.bytes === 0) this.tensorIndex++;
	}
}

function padding(bytes: number, alignment: number): number {
	return (alignment - (bytes % alignment)) % alignment;
}
