import { HubError } from "./hub-error.js";

/**
 * How long moe-merge waits for the Hub before giving up on a request, our own (undici's defaults are
 * 300 s per phase). One value covers the wait for the answer to start (connect, TLS, headers) and any
 * pause between two pieces of a body; a request that keeps moving never times out, however large.
 */
export interface HubTimeouts {
	/** Metadata requests: model info, file listings, resolve probes, whoami, commits. `HF_HUB_ETAG_TIMEOUT`. */
	metadataMs: number;
	/** The bytes of files (downloads and remote header reads). `HF_HUB_DOWNLOAD_TIMEOUT`. */
	downloadMs: number;
}

/**
 * huggingface_hub waits 10 s by default; we wait 20 s, because a merge is long and a busy mirror's first
 * byte can be slow, and stay well under a minute from a silent server to an error.
 */
export const DEFAULT_TIMEOUT_SECONDS = 20;

/** The variable that sets each timeout, as huggingface_hub names them (in seconds). */
export const TIMEOUT_VARIABLES = { metadata: "HF_HUB_ETAG_TIMEOUT", download: "HF_HUB_DOWNLOAD_TIMEOUT" } as const;

/** The timeouts from `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT` (seconds, like huggingface_hub), else the default. */
export function hubTimeouts(env: NodeJS.ProcessEnv): HubTimeouts {
	return { metadataMs: seconds(env, TIMEOUT_VARIABLES.metadata), downloadMs: seconds(env, TIMEOUT_VARIABLES.download) };
}

function seconds(env: NodeJS.ProcessEnv, name: string): number {
	const text = env[name]?.trim();
	if (!text) return DEFAULT_TIMEOUT_SECONDS * 1000;
	const value = Number(text);
	if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0) || value > 86_400) {
		throw new HubError(`${name}=${JSON.stringify(env[name])} is not a timeout: expected a number of seconds, e.g. ${name}=60`, {
			hint: `unset ${name} for the default (${DEFAULT_TIMEOUT_SECONDS} s)`,
		});
	}
	return value * 1000;
}
