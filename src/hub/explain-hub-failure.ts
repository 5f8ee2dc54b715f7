import { HubApiError, InvalidApiResponseFormatError } from "@huggingface/hub";
import { MoeMergeError } from "../errors.js";
import { HubError } from "./hub-error.js";
import { redactToken } from "./redact-token.js";

/** What was being done when a Hub request failed. */
export interface HubFailureSubject {
	repo: string;
	revision?: string;
	file?: string;
	/** read: model info, listing, download; write: create repo, upload, commit. */
	access: "read" | "write";
}

/** Who was asking, for the advice. */
export interface HubFailureContext {
	hubUrl: string;
	token?: string;
	/** Where the token came from; undefined when the request was anonymous. */
	tokenSource?: string;
}

const NETWORK_CODES = new Set([
	"ECONNREFUSED",
	"ECONNRESET",
	"ENOTFOUND",
	"EAI_AGAIN",
	"ETIMEDOUT",
	"EPIPE",
	"EHOSTUNREACH",
	"ENETUNREACH",
	"UND_ERR_SOCKET",
	"UND_ERR_CONNECT_TIMEOUT",
	"UND_ERR_HEADERS_TIMEOUT",
	"UND_ERR_BODY_TIMEOUT",
	"UND_ERR_CLOSED",
]);

/** The errno-like code of a network failure (undici wraps it as `TypeError: fetch failed` with a cause), or undefined. */
export function networkErrorCode(error: unknown): string | undefined {
	let fallback: string | undefined;
	for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
		for (const inner of e instanceof AggregateError ? [e, ...e.errors] : [e]) {
			const code = (inner as { code?: unknown }).code;
			if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
		}
		if (e instanceof TypeError && /^(fetch failed|terminated)$/.test(e.message)) fallback ??= e.message;
	}
	return fallback;
}

/** Worth another try: the connection dropped, or the Hub was briefly unable to answer. */
export function isTransientHubFailure(error: unknown): boolean {
	if (error instanceof HubApiError) return error.statusCode >= 500 || error.statusCode === 429 || error.statusCode === 408;
	return networkErrorCode(error) !== undefined;
}

/**
 * Turns a failed Hub request into a HubError that says what happened and what to do (log in, accept a
 * gated repo's conditions, check the name or revision, go offline). Aborts and bugs pass through.
 * The token never appears in the result, even if the server echoed it.
 */
export function explainHubFailure(error: unknown, subject: HubFailureSubject, context: HubFailureContext): unknown {
	if (error instanceof MoeMergeError || (error instanceof Error && error.name === "AbortError")) return error;
	const explained = explain(error, subject, context);
	if (!explained) return error;
	const clean = (text: string | undefined) => (text === undefined ? undefined : redactToken(text, context.token));
	// Only a network failure is kept as the cause (for the offline fallback): it holds no server text, so no token.
	return new HubError(clean(explained.message) as string, { hint: clean(explained.hint), status: explained.status, cause: explained.network ? error : undefined });
}

function explain(
	error: unknown,
	subject: HubFailureSubject,
	context: HubFailureContext,
): { message: string; hint?: string; status?: number; network?: boolean } | undefined {
	const { repo, revision, file } = subject;
	const { hubUrl, tokenSource } = context;
	const name = revision ? `${repo}@${revision}` : repo;
	const what = file ? `${name}: ${file}` : name;
	const login = "set HF_TOKEN=hf_... or run `hf auth login` (it writes ~/.cache/huggingface/token)";
	const tokens = `${hubUrl}/settings/tokens`;

	if (error instanceof HubApiError) {
		const status = error.statusCode;
		const said = serverText(error);
		const detail = said ? `${status}: ${said}` : String(status);
		const gated = /gated|restricted|authorized list|ask for access|accept/i.test(said);
		if (status === 401) {
			if (tokenSource) {
				return {
					status,
					message: `${what}: the Hub refused the token from ${tokenSource} (${detail})`,
					hint: `the token may be invalid or expired, or the repo may not exist: check the name, and create a new token at ${tokens}`,
				};
			}
			return {
				status,
				message: `${what}: the Hub requires you to log in (${detail}); the repo is private or gated, or does not exist`,
				hint: `${subject.access === "write" ? "pushing needs a token with write access: " : "use a token that can read it: "}${login}; and check the repo name`,
			};
		}
		if (status === 403) {
			if (gated && subject.access === "read") {
				return {
					status,
					message: `${what}: the repo is gated and ${tokenSource ? `the account of the token from ${tokenSource} has not been granted access` : "needs a logged-in account that accepted its conditions"} (${detail})`,
					hint: `open ${hubUrl}/${repo} while logged in and accept its conditions (wait for approval if the owner reviews requests), then retry with that account's token${tokenSource ? "" : ` (${login})`}`,
				};
			}
			return {
				status,
				message: `${what}: ${tokenSource ? `the token from ${tokenSource}` : "an anonymous request"} is not allowed to ${subject.access === "write" ? "write to" : "read"} this repo (${detail})`,
				hint: `use a token with ${subject.access} access to ${repo} (a fine-grained token needs that permission on the repo or its organization): ${tokens}`,
			};
		}
		if (status === 404) {
			if (revision && /revision|rev id|invalid rev|unknown rev/i.test(said)) {
				return { status, message: `${repo}: revision "${revision}" does not exist (${detail})`, hint: `check the branch, tag or commit: ${hubUrl}/${repo}/tree/main lists the branches` };
			}
			if (file && /entry|file/i.test(said)) {
				return { status, message: `${what}: the file is not in the repo at this revision (${detail})` };
			}
			return {
				status,
				message: `${repo}: no such model repo on ${hubUrl} (${detail})`,
				hint: `check the name (org/name); a private repo looks missing to accounts that cannot see it${tokenSource ? "" : ` (if it is private: ${login})`}`,
			};
		}
		if (status === 429) return { status, message: `${what}: the Hub is rate-limiting these requests (${detail})`, hint: `wait a minute and retry${tokenSource ? "" : `; logged-in requests get higher limits (${login})`}` };
		if (status >= 500) return { status, message: `${what}: the Hub had an internal error (${detail})`, hint: "retry later; an interrupted transfer resumes where it stopped" };
		return { status, message: `${what}: the Hub answered ${detail}` };
	}
	const code = networkErrorCode(error);
	if (code) {
		const unreachable = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT_TIMEOUT)$/.test(code);
		return {
			network: true,
			message: unreachable ? `${what}: cannot reach ${hubUrl} (${code})` : `${what}: the connection to ${hubUrl} or its storage broke (${code})`,
			hint:
				subject.access === "write"
					? "check the network and HF_ENDPOINT, then run the command again (an upload skips the files already on the Hub)"
					: "check the network and HF_ENDPOINT, then run again (downloads resume where they stopped); to use only models already in the local cache, set HF_HUB_OFFLINE=1",
		};
	}
	if (error instanceof InvalidApiResponseFormatError) {
		return { message: `${what}: unexpected answer from ${hubUrl} (${error.message})`, hint: "is HF_ENDPOINT a Hugging Face Hub?" };
	}
	return undefined;
}

/** The server's own words, without the library's "URL: ..." trailer. */
function serverText(error: HubApiError): string {
	const data = error.data as { error?: unknown; message?: unknown } | undefined;
	const text = typeof data?.error === "string" ? data.error : typeof data?.message === "string" ? data.message : error.message;
	return text.replace(/\.?\s*URL: \S+.*$/s, "").trim().slice(0, 300);
}
