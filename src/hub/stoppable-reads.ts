import type { ReadableStreamDefaultReader, ReadableStreamReadResult } from "node:stream/web";

/**
 * Reads of a stream that a stop (an abort, a deadline) ends at once. Racing each read against one
 * long-lived promise does the same but leaks: every `Promise.race` leaves a reaction on that promise
 * which keeps the race's result, the chunk read, alive until it settles; for a range answer open for
 * the whole merge that was every chunk of the file. Here only the read in flight is referenced.
 */
export class StoppableReads {
	private pending: ((error: unknown) => void) | undefined;
	private stopped: { error: unknown } | undefined;

	/** Rejects the read in flight, and every later one, with `error` (the first stop wins). */
	stop(error: unknown): void {
		this.stopped ??= { error };
		this.pending?.(this.stopped.error);
	}

	read<T>(reader: ReadableStreamDefaultReader<T>): Promise<ReadableStreamReadResult<T>> {
		if (this.stopped) return Promise.reject(this.stopped.error);
		return new Promise<ReadableStreamReadResult<T>>((resolve, reject) => {
			this.pending = reject;
			reader.read().then(
				(step) => {
					this.pending = undefined;
					resolve(step);
				},
				(error) => {
					this.pending = undefined;
					reject(error);
				},
			);
		});
	}
}
