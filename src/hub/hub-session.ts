import { AsyncLocalStorage } from "node:async_hooks";
import type { HubOptions } from "./hub-options.js";

/**
 * Hub options for everything called inside `withHubOptions`. runMerge uses it so that the models it
 * resolves (through planMerge and resolveRecipeModels, which know nothing of the Hub) are downloaded
 * with its token, endpoint, progress callback and abort signal.
 */
const session = new AsyncLocalStorage<HubOptions>();

export function withHubOptions<T>(options: HubOptions, work: () => Promise<T>): Promise<T> {
	return session.run({ ...session.getStore(), ...options }, work);
}

/** The options of the innermost `withHubOptions`, or none (then everything comes from the environment). */
export function ambientHubOptions(): HubOptions {
	return session.getStore() ?? {};
}
