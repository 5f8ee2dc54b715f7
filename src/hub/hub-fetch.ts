import { VERSION } from "../version.js";

export interface HubFetchOptions {
	hubUrl: string;
	token?: string;
	/** The fetch underneath (default the global one). */
	base?: typeof fetch;
}

/** What @huggingface/hub attaches to upload requests (only browsers' XMLHttpRequest honours it there). */
interface ProgressHint {
	progressCallback?: (fraction: number) => void;
}

const USER_AGENT = `moe-merge/${VERSION}`;

/**
 * The fetch every @huggingface/hub call gets from us. The token is added here, to requests for the Hub's
 * own origin only: never to LFS storage or CDNs (undici also drops Authorization on cross-origin
 * redirects), so the library is never given the token itself. Upload bodies carrying the library's
 * `progressHint` are streamed through a byte counter, which gives Node the upload progress the library
 * only reports in browsers.
 */
export function createHubFetch(options: HubFetchOptions): typeof fetch {
	const hubOrigin = new URL(options.hubUrl).origin;
	const base = options.base ?? fetch;
	return async (input, init = {}) => {
		const url = input instanceof Request ? input.url : String(input);
		const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
		if (new URL(url).origin === hubOrigin) {
			if (options.token) headers.set("authorization", `Bearer ${options.token}`);
			// Library calls that insist on credentials send "Bearer undefined" when we are anonymous.
			else if (/^Bearer\s*(undefined)?$/.test(headers.get("authorization") ?? "")) headers.delete("authorization");
			if (!headers.has("user-agent")) headers.set("user-agent", USER_AGENT);
		} else if (options.token && headers.get("authorization")?.includes(options.token)) {
			headers.delete("authorization");
		}
		const { progressHint, ...rest } = init as RequestInit & { progressHint?: ProgressHint };
		const counted = progressHint?.progressCallback ? countingBody(rest.body, progressHint.progressCallback) : undefined;
		if (counted) headers.set("content-length", String(counted.size));
		const request: RequestInit & { duplex?: "half" } = { ...rest, headers, ...(counted && { body: counted.stream, duplex: "half" }) };
		return base(input instanceof Request ? input : url, request);
	};
}

/** The body as a stream that reports the fraction sent; below 1 until the response arrives, like the library's XHR path. */
function countingBody(body: unknown, report: (fraction: number) => void): { stream: ReadableStream<Uint8Array>; size: number } | undefined {
	const blob = body instanceof Blob ? body : ArrayBuffer.isView(body) || body instanceof ArrayBuffer ? new Blob([body as ArrayBuffer]) : undefined;
	if (!blob || blob.size === 0) return undefined;
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
