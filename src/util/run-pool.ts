export interface PoolOptions {
	/** Called once, at the first failure (e.g. to abort the items still running). */
	onFailure?: (error: unknown) => void;
}

/**
 * Runs `work` on every item with at most `concurrency` at a time. The first failure stops new starts,
 * is reported to onFailure, and is what this throws once the running items have settled.
 */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>, options: PoolOptions = {}): Promise<void> {
	let next = 0;
	let failed: { error: unknown } | undefined;
	const worker = async () => {
		while (!failed && next < items.length) {
			const item = items[next++];
			try {
				await work(item);
			} catch (error) {
				if (!failed) {
					failed = { error };
					options.onFailure?.(error);
				}
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
	if (failed) throw failed.error;
}
