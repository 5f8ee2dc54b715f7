import { StoppableReads } from "./stoppable-reads.js";

/**
 * The chunks of a response body, stopping at once when `signal` aborts. Iterating `response.body`
 * directly can wait forever when the fetch is aborted between two reads (seen with Node 20's undici),
 * so the abort rejects the read in flight, and the stream is cancelled without waiting for it.
 */
export async function* bodyChunks(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
	const reader = body.getReader();
	const reads = new StoppableReads();
	const onAbort = () => reads.stop(signal?.reason ?? new DOMException("This operation was aborted", "AbortError"));
	if (signal?.aborted) onAbort();
	else signal?.addEventListener("abort", onAbort, { once: true });
	try {
		for (;;) {
			const { done, value } = await reads.read(reader);
			if (done) return;
			yield value;
		}
	} finally {
		signal?.removeEventListener("abort", onAbort);
		reader.cancel().catch(() => {});
	}
}
