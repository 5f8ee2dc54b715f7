import { setTimeout as sleep } from "node:timers/promises";
import { VERSION } from "../version.js";
import type { HubTimeouts } from "./hub-timeouts.js";
import { TIMEOUT_VARIABLES } from "./hub-timeouts.js";
import { JSON_LIMITS } from "../util/read-json-capped.js";
import { MAX_RETRY_AFTER_MS, asksToRetry, retryAfterMs } from "./retry-after.js";
import { HubRequestError, IdleDeadline, type RequestBounds, boundedResponse, fetchFailure } from "./timed-fetch.js";

export interface HubFetchOptions {
	hubUrl: string;
	token?: string;
	/** The fetch underneath (default the global one). */
	base?: typeof fetch;
	timeouts: HubTimeouts;
	/** Waits a `Retry-After` answer may cause per request. */
	retries: number;
	/** Shown before each such wait (the CLI prints it as a warning line). */
	onWait?: (message: string) => void;
}

/**
 * What our own callers add to a request: `download` for the bytes of a file, bounded by the caller (the
 * listed size, the header length) and timed by HF_HUB_DOWNLOAD_TIMEOUT. Everything else (the library's
 * API calls) is metadata: HF_HUB_ETAG_TIMEOUT, and a body of at most JSON_LIMITS.hubApi (unless ranged).
 */
export interface HubRequestInit extends RequestInit {
	transfer?: "download";
}

/** What @huggingface/hub attaches to upload requests (only browsers' XMLHttpRequest honours it there). */
interface ProgressHint {
	progressCallback?: (fraction: number) => void;
}

const USER_AGENT = `moe-merge/${VERSION}`;

/**
 * Requests that write (create, preupload, LFS batch and uploads, the commit) wait this long at least:
 * the Hub processes a commit, or completes a multipart upload, before it answers, which can take
 * minutes for large files (huggingface_hub sets no timeout on them at all).
 */
const WRITE_ANSWER_MS = 300_000;

/**
 * The fetch every request to the Hub goes through, the library's and ours:
 * - the token is added to requests for the Hub's own origin only: never to LFS storage or CDNs (undici
 *   also drops Authorization on cross-origin redirects), so the library is never given the token itself;
 * - our own timeouts (hub-timeouts.ts): no answer, or a body that stops, for that long fails the request;
 * - bodies are bounded: an API answer (model info, a listing page) or an error page past its limit is
 *   refused while it streams;
 * - a 429 or 503 with `Retry-After` is waited out (at most MAX_RETRY_AFTER_MS, shown through `onWait`)
 *   and the request sent again, when its body can be sent again;
 * - upload bodies stream through a byte counter, which gives Node the upload progress the library only
 *   reports in browsers (`progressHint`) and keeps the timeout from firing while a large file goes up.
 */
export function createHubFetch(options: HubFetchOptions): typeof fetch {
	const hubOrigin = new URL(options.hubUrl).origin;
	const base = options.base ?? fetch;
	return async (input, init = {}) => {
		const url = input instanceof Request ? input.url : String(input);
		const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
		const target = new URL(url);
		if (target.origin === hubOrigin) {
			if (options.token) headers.set("authorization", `Bearer ${options.token}`);
			// Library calls that insist on credentials send "Bearer undefined" when we are anonymous.
			else if (/^Bearer\s*(undefined)?$/.test(headers.get("authorization") ?? "")) headers.delete("authorization");
			if (!headers.has("user-agent")) headers.set("user-agent", USER_AGENT);
		} else if (options.token && headers.get("authorization")?.includes(options.token)) {
			headers.delete("authorization");
		}
		const { progressHint, transfer, ...rest } = init as HubRequestInit & { progressHint?: ProgressHint };
		const method = (rest.method ?? "GET").toUpperCase();
		const download = transfer === "download";
		const writes = method !== "GET" && method !== "HEAD";
		const bounds: RequestBounds = {
			timeoutMs: download ? options.timeouts.downloadMs : writes ? Math.max(options.timeouts.metadataMs, WRITE_ANSWER_MS) : options.timeouts.metadataMs,
			variable: download ? TIMEOUT_VARIABLES.download : TIMEOUT_VARIABLES.metadata,
			// A ranged read (the library's download probe) asks for part of a file, not an API answer: its reader bounds it.
			bodyLimit: download || headers.has("range") || method === "HEAD" ? undefined : JSON_LIMITS.hubApi.bytes,
			what: `${method} ${target.host}${target.pathname}`,
		};
		const replayable = !(rest.body instanceof ReadableStream);
		for (let attempt = 0; ; attempt++) {
			const deadline = new IdleDeadline(bounds, rest.signal);
			const counted = countingBody(rest.body, progressHint !== undefined, (fraction) => {
				deadline.touch("answer");
				progressHint?.progressCallback?.(fraction);
			});
			const sent = new Headers(headers);
			if (counted) sent.set("content-length", String(counted.size));
			// A streamed body is sent once: undici would otherwise keep a tee of it for a redirect that could
			// resend it (Fetch's "clone request" unless window is null and redirect "error"), which holds the
			// whole file in memory as it goes up. LFS upload addresses do not redirect.
			const streamed = counted && { body: counted.stream, duplex: "half" as const, redirect: "error" as const, window: null };
			const request: RequestInit & { duplex?: "half" } = { ...rest, headers: sent, signal: deadline.signal, ...streamed };
			deadline.touch("answer");
			let response: Response;
			try {
				response = await base(input instanceof Request ? input : url, request);
			} catch (error) {
				throw fetchFailure(deadline, error);
			} finally {
				deadline.stop();
			}
			const wait = asksToRetry(response.status) && replayable ? retryAfterMs(response.headers.get("retry-after")) : undefined;
			if (wait === undefined) {
				// Error pages are read only for their message: a small limit whatever the request.
				return boundedResponse(response, deadline, response.ok ? bounds : { ...bounds, bodyLimit: JSON_LIMITS.hubError.bytes });
			}
			await response.body?.cancel().catch(() => {});
			const status = `${response.status} (${response.status === 429 ? "too many requests" : "service unavailable"})`;
			const seconds = Math.ceil(wait / 1000);
			if (wait > MAX_RETRY_AFTER_MS) {
				throw new HubRequestError(`the server answered ${status} to ${bounds.what} and asks to wait ${seconds} s before trying again, longer than moe-merge waits (${MAX_RETRY_AFTER_MS / 1000} s)`, {
					status: response.status,
					hint: `run again in ${seconds < 120 ? `${seconds} seconds` : `${Math.ceil(seconds / 60)} minutes`}; downloads resume where they stopped`,
				});
			}
			if (attempt >= options.retries) {
				throw new HubRequestError(`the server still answered ${status} to ${bounds.what} after ${attempt} waits`, {
					status: response.status,
					hint: "run again later; downloads resume where they stopped",
				});
			}
			options.onWait?.(`the server answered ${status} to ${bounds.what}; waiting ${seconds} s as it asks (Retry-After), then trying again (${attempt + 1} of ${options.retries})`);
			await sleep(wait, undefined, { signal: rest.signal ?? undefined });
		}
	};
}

/** Bodies this large are streamed through the counter even without a progress hint, to keep their timeout moving. */
const COUNTED_BODY_BYTES = 1 << 20;

/** The body as a stream that reports the fraction sent; below 1 until the response arrives, like the library's XHR path. */
function countingBody(body: unknown, hinted: boolean, report: (fraction: number) => void): { stream: ReadableStream<Uint8Array>; size: number } | undefined {
	const blob = body instanceof Blob ? body : ArrayBuffer.isView(body) || body instanceof ArrayBuffer ? new Blob([body as ArrayBuffer]) : undefined;
	if (!blob || blob.size === 0 || (!hinted && blob.size < COUNTED_BODY_BYTES)) return undefined;
	const size = blob.size;
	let sent = 0;
	const counter = new TransformStream<Uint8Array, Uint8Array>({
		transform(chunk, controller) {
			sent += chunk.byteLength;
			report(Math.min(sent / size, 0.9999));
			controller.enqueue(chunk);
		},
	});
	return { stream: (blob.stream() as ReadableStream<Uint8Array>).pipeThrough(counter), size };
}

/**
 * The credentials argument of library functions that insist on one (createRepo, whoAmI), left empty:
 * the token is added by the fetch above, for the Hub's origin only.
 */
export const TOKEN_VIA_FETCH = {} as { accessToken: string };
