import type { FileHandle } from "node:fs/promises";

const PIECE = 1 << 20;

/**
 * A Blob over a range of a file already open: what a push hands @huggingface/hub instead of a path, so
 * the bytes hashed and uploaded are those of the file checked when it was opened (push-files.ts), not
 * whatever the path names later. Reads are positional; the handle is closed by whoever opened it.
 */
export class FdBlob extends Blob {
	constructor(
		private readonly handle: FileHandle,
		private readonly start: number,
		private readonly end: number,
		/** For the error when the file shrinks while it is read. */
		private readonly name: string,
	) {
		super([]);
		// Blob's size is a getter on its prototype (the types call it a property): ours counts the range.
		Object.defineProperty(this, "size", { get: () => this.end - this.start });
	}

	override slice(start = 0, end = this.size): FdBlob {
		if (start < 0 || end < 0) throw new TypeError("FdBlob.slice takes no negative positions");
		const from = Math.min(this.start + start, this.end);
		return new FdBlob(this.handle, from, Math.max(from, Math.min(this.start + end, this.end)), this.name);
	}

	override async arrayBuffer(): Promise<ArrayBuffer> {
		const bytes = new Uint8Array(this.size);
		for (let at = 0; at < bytes.length; ) at += await this.readAt(bytes.subarray(at, at + PIECE), this.start + at);
		return bytes.buffer;
	}

	override async text(): Promise<string> {
		return new TextDecoder().decode(await this.arrayBuffer());
	}

	override stream(): ReadableStream<Uint8Array> {
		let at = this.start;
		return new ReadableStream<Uint8Array>({
			pull: async (controller) => {
				if (at >= this.end) return controller.close();
				const piece = new Uint8Array(Math.min(PIECE, this.end - at));
				at += await this.readAt(piece, at);
				controller.enqueue(piece);
			},
		}) as ReturnType<Blob["stream"]>;
	}

	private async readAt(into: Uint8Array, position: number): Promise<number> {
		let got = 0;
		while (got < into.length) {
			const { bytesRead } = await this.handle.read(into, got, into.length - got, position + got);
			if (bytesRead === 0) throw new Error(`${this.name} became shorter while it was being pushed`);
			got += bytesRead;
		}
		return got;
	}
}
