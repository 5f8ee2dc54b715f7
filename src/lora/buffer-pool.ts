/**
 * Spare block buffers handed from one edited tensor to the next: allocating (and zero-filling) fresh
 * ones for every tensor cost the garbage collector more time than the fold itself. A buffer is in one
 * tensor's hands at a time (taken, then given back when that tensor is read to its end); at most a
 * few spares are kept, so memory stays a few blocks.
 */
const MAX_SPARES = 4;

export class BufferPool {
	private readonly spares: ArrayBuffer[] = [];

	/** A buffer of at least `bytes` (a spare when one is big enough; its contents are stale). */
	take(bytes: number): ArrayBuffer {
		const i = this.spares.findIndex((b) => b.byteLength >= bytes);
		return i >= 0 ? this.spares.splice(i, 1)[0]! : new ArrayBuffer(bytes);
	}

	give(buffer: ArrayBufferLike | undefined): void {
		if (!(buffer instanceof ArrayBuffer)) return;
		this.spares.push(buffer);
		if (this.spares.length > MAX_SPARES) this.spares.sort((a, b) => b.byteLength - a.byteLength).pop();
	}
}
