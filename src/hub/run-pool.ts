/** Runs `work` on every item with at most `concurrency` at a time; the first failure stops new starts and is thrown. */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	let failed = false;
	const worker = async () => {
		while (!failed && next < items.length) {
			const item = items[next++];
			try {
				await work(item);
			} catch (error) {
				failed = true;
				throw error;
			}
		}
	};
	const results = await Promise.allSettled(Array.from({ length: Math.min(concurrency, items.length) }, worker));
	const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
	if (rejected) throw rejected.reason;
}
