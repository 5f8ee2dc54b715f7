/**
 * Writes one GGUF file front to back from its layout: the header, then each tensor's bytes in table
 * order, zero padding after each to the alignment. Tensor data is handed over in pieces of any size
 * (an expert slice of a stacked tensor, a chunk of a big one), so memory stays bounded by the caller's
 * piece. The sha256 is computed while writing (for the lock).
 */
import type { ComputeEngine } from "../kernels/engine.js";
import { SequentialFileWriter } from "../safetensors/sequential-file-writer.js";
import type { GgufLayout, PlacedTensor } from "./layout.js";

/** Staging buffers taken from an engine: three, so that two can be on their way to disk (and the hash) while one is encoded into. */
const ENGINE_STAGING_BUFFERS = 3;
const ENGINE_STAGING_BYTES = 16 << 20;

export interface GgufWriterOptions {
	/**
	 * Stage the file in this compute engine's memory (ComputeEngine.stagingBuffers), so that its workers
	 * encode tensor data into it in place (reserve/commit, encodeInto); given back once the file is
	 * finished or aborted.
	 */
	engine?: ComputeEngine;
	/** Or the caller's own staging buffers (SequentialFileWriter's `buffers`). */
	buffers?: readonly Uint8Array[];
}

export class GgufWriter {
	private tensorIndex = 0;
	/** Bytes of the current tensor written so far. */
	private filled = 0;

	private constructor(readonly layout: GgufLayout, private readonly file: SequentialFileWriter, private readonly releaseStaging: () => Promise<void>) {}

	static async open(path: string, layout: GgufLayout, options: GgufWriterOptions = {}): Promise<GgufWriter> {
		const staging = options.engine?.stagingBuffers(ENGINE_STAGING_BUFFERS, ENGINE_STAGING_BYTES);
		const releaseStaging = async () => staging?.release();
		let file: SequentialFileWriter;
		try {
			file = await SequentialFileWriter.open(path, { sha256: true, buffers: staging?.buffers ?? options.buffers });
		} catch (error) {
			await releaseStaging();
			throw error;
		}
		try {
			await file.append(layout.header);
		} catch (error) {
			await file.abort();
			await releaseStaging();
			throw error;
		}
		const writer = new GgufWriter(layout, file, releaseStaging);
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
		this.check(bytes.length);
		await this.file.append(bytes);
		await this.advance(bytes.length);
	}

	/**
	 * Staging space for the current tensor's next bytes, to fill in place and commit(): at most `max`
	 * bytes, never past the tensor's end, at least 1 (less than asked at the end of a staging buffer).
	 */
	reserve(max: number): Uint8Array {
		return this.file.reserve(Math.min(max, this.currentOrThrow().bytes - this.filled));
	}

	/** Marks `n` bytes of the last reserve() as filled. */
	async commit(n: number): Promise<void> {
		this.check(n);
		await this.file.commit(n);
		await this.advance(n);
	}

	private currentOrThrow(): PlacedTensor {
		const tensor = this.current;
		if (!tensor) throw new Error(`${this.path}: bug: tensor data written past the last tensor`);
		return tensor;
	}

	private check(n: number): void {
		const tensor = this.currentOrThrow();
		if (this.filled + n > tensor.bytes) throw new Error(`${this.path}: bug: ${this.filled + n} bytes written for ${tensor.name}, which has ${tensor.bytes}`);
	}

	/** `n` bytes of the current tensor were handed over: pads and moves on once it is complete. */
	private async advance(n: number): Promise<void> {
		const tensor = this.current!;
		this.filled += n;
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
		await this.releaseStaging();
		return this.file.sha256!;
	}

	async abort(): Promise<void> {
		await this.file.abort();
		await this.releaseStaging();
	}

	private async padEmptyTensors(): Promise<void> {
		while (this.current && this.current.bytes === 0) this.tensorIndex++;
	}
}

function padding(bytes: number, alignment: number): number {
	return (alignment - (bytes % alignment)) % alignment;
}
