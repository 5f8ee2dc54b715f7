import { setTimeout as sleep } from "node:timers/promises";
import type { HubContext } from "./hub-context.js";

/**
 * The Hub clients' one retry rule, after a failed attempt (numbered from 0): the user's abort is
 * thrown at once; a transient failure with retries left waits retryDelayMs · 2^attempt (the wait
 * itself abortable) and returns true; otherwise returns false, and the caller throws its own error.
 */
export async function waitToRetry(context: Pick<HubContext, "retries" | "retryDelayMs" | "signal">, error: unknown, attempt: number, transient: boolean): Promise<boolean> {
	if (context.signal?.aborted) throw context.signal.reason ?? error;
	if (!transient || attempt >= context.retries) return false;
	await sleep(context.retryDelayMs * 2 ** attempt, undefined, { signal: context.signal });
	return true;
}
