/**
 * The wait a 429 or 503 answer asks for in its `Retry-After` header: delay-seconds (what the Hub sends,
 * and all huggingface_hub reads) or an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
	const text = header?.trim();
	if (!text) return undefined;
	if (/^\d+$/.test(text)) return Number(text) * 1000;
	const date = Date.parse(text);
	return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Statuses whose Retry-After we honour: rate limited, temporarily unavailable. */
export function asksToRetry(status: number): boolean {
	return status === 429 || status === 503;
}

/**
 * The longest single wait we accept. The Hub's rate-limit windows are minutes long; a longer wait would
 * hold a merge without a word, so past this moe-merge stops and says when to run again.
 */
export const MAX_RETRY_AFTER_MS = 60_000;
