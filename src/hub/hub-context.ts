import { hubCacheDir } from "./cache-paths.js";
import { envFlag, hubEndpoint } from "./hub-endpoint.js";
import { type HubFailureSubject, explainHubFailure } from "./explain-hub-failure.js";
import { createHubFetch } from "./hub-fetch.js";
import type { HubOptions } from "./hub-options.js";
import { type HubTimeouts, hubTimeouts } from "./hub-timeouts.js";
import { findHubToken } from "./hub-token.js";
import { redactToken } from "./redact-token.js";
import type { TransferProgressCallback } from "./transfer-progress.js";

/**
 * HubOptions with every default filled in, the token looked up, and the fetch that carries it. Made once
 * per run (openHub) and handed to every call that talks to the Hub.
 */
export interface HubContext {
	readonly kind: "hub-context";
	hubUrl: string;
	cacheDir: string;
	offline: boolean;
	/** Never printed; only hubFetch sends it, to the Hub's origin. */
	token?: string;
	/** Where the token came from (`HF_TOKEN`, a file path), for messages. */
	tokenSource?: string;
	fetch: typeof fetch;
	concurrency: number;
	retries: number;
	retryDelayMs: number;
	/** From HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (hub-timeouts.ts). */
	timeouts: HubTimeouts;
	onProgress?: TransferProgressCallback;
	onWarning: (message: string) => void;
	signal?: AbortSignal;
	/** A failed request as a HubError saying what to do, token removed. */
	explain(error: unknown, subject: HubFailureSubject): unknown;
	/** The text with the token removed (for messages quoting what the server sent). */
	redact(text: string): string;
}

/** What a library call accepts: options (defaults from the environment), or a context already opened. */
export type HubAccess = HubOptions | HubContext;

/** The context of `hub`: itself when already opened, else made from the options (the token looked up once). */
export async function openHub(hub: HubAccess = {}): Promise<HubContext> {
	return "kind" in hub && hub.kind === "hub-context" ? hub : createHubContext(hub);
}

export async function createHubContext(options: HubOptions = {}): Promise<HubContext> {
	const env = options.env ?? process.env;
	const hubUrl = (options.hubUrl ?? hubEndpoint(env)).replace(/\/+$/, "");
	const found = options.accessToken === null ? undefined : options.accessToken ? { value: options.accessToken, source: "the accessToken option" } : await findHubToken(env);
	const context = { hubUrl, token: found?.value, tokenSource: found?.source };
	const redact = (text: string) => redactToken(text, context.token);
	// Warnings and progress carry server text (file names, messages): the token is removed here, once.
	const warn = options.onWarning;
	const onWarning = (message: string) => warn?.(redact(message));
	const progress = options.onProgress;
	const retries = Math.max(0, options.retries ?? 5);
	const timeouts = hubTimeouts(env);
	return {
		kind: "hub-context",
		...context,
		cacheDir: options.cacheDir ?? hubCacheDir(env),
		offline: options.offline ?? envFlag(env.HF_HUB_OFFLINE),
		fetch: createHubFetch({ hubUrl, token: found?.value, base: options.fetch, timeouts, retries, onWait: onWarning }),
		concurrency: Math.max(1, options.concurrency ?? 3),
		retries,
		retryDelayMs: options.retryDelayMs ?? 500,
		timeouts,
		onProgress: progress && ((p) => progress(p.file === undefined ? p : { ...p, file: redact(p.file) })),
		onWarning,
		signal: options.signal,
		explain: (error, subject) => explainHubFailure(error, subject, context),
		redact,
	};
}
