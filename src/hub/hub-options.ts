import type { TransferProgressCallback } from "./transfer-progress.js";

/** How moe-merge talks to the Hub. Every field has a default from the environment, like huggingface_hub. */
export interface HubOptions {
	/** Hub base URL; default `HF_ENDPOINT`, else https://huggingface.co. */
	hubUrl?: string;
	/** Access token; default `HF_TOKEN`, then the file at `HF_TOKEN_PATH`, then `$HF_HOME/token`. `null`: anonymous. */
	accessToken?: string | null;
	/** Cache root; default `HF_HUB_CACHE`, else `$HF_HOME/hub`, else ~/.cache/huggingface/hub. */
	cacheDir?: string;
	/** Use the local cache only and never open a connection; default `HF_HUB_OFFLINE`. */
	offline?: boolean;
	/** Files of one repo downloaded at the same time (default 3). */
	concurrency?: number;
	/** How many times a dropped or failed transfer is resumed before giving up (default 5). */
	retries?: number;
	/** First wait between retries, doubled each time (default 500 ms). */
	retryDelayMs?: number;
	onProgress?: TransferProgressCallback;
	/** Notes that do not stop the work, e.g. "the Hub cannot be reached; using the cached snapshot". */
	onWarning?: (message: string) => void;
	signal?: AbortSignal;
	/** The fetch to build on (a proxy agent, tests); default the global fetch. */
	fetch?: typeof fetch;
	/** The environment the defaults are read from; default process.env. */
	env?: NodeJS.ProcessEnv;
}
