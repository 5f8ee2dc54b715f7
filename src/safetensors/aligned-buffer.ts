/** Page size and O_DIRECT block alignment we honour for buffers, file offsets and lengths. */
export const DIRECT_IO_ALIGNMENT = 4096;

const WASM_PAGE = 65536;

/**
 * A zeroed byte buffer whose address is page-aligned, as O_DIRECT needs. Node gives no control over
 * the alignment of ArrayBuffers, but a WebAssembly.Memory is mapped on its own pages, so a view
 * over one starts on a page boundary. It never grows, so views over it never detach. Shared
 * (a SharedArrayBuffer), so that another thread can read it without a copy (sha256-thread.ts).
 */
export function allocateAligned(bytes: number): Uint8Array {
	const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
	const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
	return new Uint8Array(memory.buffer, 0, bytes);
}
