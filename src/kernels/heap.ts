/**
 * A best-fit allocator over the shared WebAssembly.Memory, used by the main thread only. Blocks are
 * 64-byte aligned; freed blocks coalesce with their neighbours, so packing a layer, freeing it and
 * packing the next one of the same size reuses the same bytes instead of growing. The memory grows
 * (by whole 64 KiB pages, only what is missing) when no free block fits; it never shrinks.
 */

export const ALIGN = 64;
const PAGE = 65536;
/** wasm32: 65536 pages. */
export const MAX_PAGES = 65536;

interface Block {
	offset: number;
	size: number;
}

export class SharedHeap {
	readonly #memory: WebAssembly.Memory;
	/** Free blocks sorted by offset, never adjacent (coalesced). */
	readonly #free: Block[] = [];
	/** Size of every block handed out, by offset. */
	readonly #allocated = new Map<number, number>();
	#end: number;
	#used = 0;

	/** Manages [start, end of memory); `start` is rounded up to ALIGN (offset 0 stays unused: it means "none"). */
	constructor(memory: WebAssembly.Memory, start = ALIGN) {
		this.#memory = memory;
		this.#end = memory.buffer.byteLength;
		const first = alignUp(Math.max(start, ALIGN));
		if (first < this.#end) this.#free.push({ offset: first, size: this.#end - first });
	}

	/** Bytes handed out and not freed. */
	get usedBytes(): number {
		return this.#used;
	}

	/** Current size of the memory. */
	get memoryBytes(): number {
		return this.#end;
	}

	/** Offset of `bytes` (> 0) free bytes, 64-byte aligned. Throws a RangeError past 4 GiB. */
	alloc(bytes: number): number {
		if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`SharedHeap.alloc: bad size ${bytes}`);
		const size = alignUp(bytes);
		let best = -1;
		for (let i = 0; i < this.#free.length; i++) {
			const block = this.#free[i];
			if (block.size >= size && (best < 0 || block.size < this.#free[best].size)) best = i;
		}
		if (best < 0) best = this.#grow(size);
		const block = this.#free[best];
		const offset = block.offset;
		if (block.size === size) this.#free.splice(best, 1);
		else {
			block.offset += size;
			block.size -= size;
		}
		this.#used += size;
		this.#allocated.set(offset, size);
		return offset;
	}

	/** Returns a block given by alloc. */
	free(offset: number): void {
		const size = this.#allocated.get(offset);
		if (size === undefined) throw new Error(`SharedHeap.free: ${offset} is not an allocated block (double free?)`);
		this.#allocated.delete(offset);
		let i = 0;
		while (i < this.#free.length && this.#free[i].offset < offset) i++;
		const prev = this.#free[i - 1];
		const next = this.#free[i];
		this.#used -= size;
		if (prev && prev.offset + prev.size === offset) {
			prev.size += size;
			if (next && prev.offset + prev.size === next.offset) {
				prev.size += next.size;
				this.#free.splice(i, 1);
			}
		} else if (next && offset + size === next.offset) {
			next.offset = offset;
			next.size += size;
		} else {
			this.#free.splice(i, 0, { offset, size });
		}
	}

	/** Grows the memory so that a block of `size` fits at the end; returns that free block's index. */
	#grow(size: number): number {
		const last = this.#free[this.#free.length - 1];
		const tail = last && last.offset + last.size === this.#end ? last : undefined;
		const missing = size - (tail ? tail.size : 0);
		const pages = Math.ceil(missing / PAGE);
		const currentPages = this.#end / PAGE;
		if (currentPages + pages > MAX_PAGES) {
			throw new RangeError(
				`out of kernel memory: ${formatBytes(size)} more needed, ${formatBytes(this.#used)} in use, ` +
				`and WebAssembly memory is limited to 4 GiB (free packed weights that are no longer needed)`,
			);
		}
		try {
			this.#memory.grow(pages);
		} catch (error) {
			throw new RangeError(`out of kernel memory: could not grow WebAssembly memory by ${formatBytes(pages * PAGE)}: ${(error as Error).message}`);
		}
		const oldEnd = this.#end;
		this.#end = this.#memory.buffer.byteLength;
		if (tail) tail.size += this.#end - oldEnd;
		else this.#free.push({ offset: oldEnd, size: this.#end - oldEnd });
		return this.#free.length - 1;
	}
}

function alignUp(n: number): number {
	return Math.ceil(n / ALIGN) * ALIGN;
}

function formatBytes(n: number): string {
	return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} bytes`;
}
