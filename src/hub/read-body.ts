/**
 * The chunks of a response body, stopping at once when `signal` aborts. Iterating `response.body`
 * directly can wait forever when the fetch is aborted between two reads (seen with Node 20's undici),
 * so each read races the abort, and the stream is cancelled without waiting for it.
 */
export async function* bodyChunks(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
	const reader = body.getReader();
	let onAbort = () => {};
	const aborted = new Promise<never>((_, reject) => {
		onAbort = () => reject(signal?.reason ?? new DOMException("This operation was aborted", "AbortError"));
		if (signal?.aborted) onAbort();
		else signal?.addEventListener("abort", onAbort, { once: true });
	});
	aborted.catch(() => {});
	try {
		for (;;) {
			const { done, value } = await Promise.race([reader.read(), aborted]);
			if (done) return;
			yield value;
		}
	} finally {
		signal?.removeEventListener("abort", onAbort);
		reader.cancel().catch(() => {});
	}
}
