import { readdir, readFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { after } from "node:test";
import type { HubOptions } from "../../src/hub/index.js";
import { DENSE, FIXTURES, tempDir } from "../merge/helpers.js";
import { HubServer } from "./hub-server.js";

export { tempDir, runCli, writeRecipe, caseModels, DENSE, FIXTURES } from "../merge/helpers.js";

/** Alice owns `alice/*` and `org/*`; Bob reads only; tokens look like real ones (the library wants `hf_`). */
export const ALICE = "hf_aliceSecretToken0123456789abcdef";
export const BOB = "hf_bobReadOnlyToken0123456789abcdef";

/** A test hub for one test file, closed when the file ends. */
export async function startHub(): Promise<HubServer> {
	const hub = await HubServer.start({ [ALICE]: { user: "alice", orgs: ["org"] }, [BOB]: { user: "bob", role: "read" } });
	after(() => hub.close());
	return hub;
}

/**
 * Hub options for library calls: the test hub, a private cache, the given token (anonymous by default:
 * never the developer's own ~/.cache/huggingface/token), and short retry waits.
 */
export function hubOptions(hub: HubServer, cacheDir: string, token: string | null = null, extra: HubOptions = {}): HubOptions {
	return { hubUrl: hub.url, cacheDir, accessToken: token, retryDelayMs: 1, env: {}, ...extra };
}

/** The environment for a CLI run against the test hub, isolated from the user's own Hugging Face setup. */
export function cliEnv(hub: HubServer, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
	return { PATH: process.env.PATH, HF_ENDPOINT: hub.url, HF_HOME: home, HF_HUB_CACHE: join(home, "hub"), ...extra };
}

/** The fixture folders used as Hub repos. */
export const LLAMA_BASE = join(FIXTURES, "models", "llama-base");
export const ROPE = { base: join(DENSE, "llama-rope-llama3", "base"), a: join(DENSE, "llama-rope-llama3", "expert-a"), b: join(DENSE, "llama-rope-llama3", "expert-b") };
export const SHARDED = join(DENSE, "llama-sharded", "base");

/** Every regular file under a folder (symlinks followed by reading), relative path -> bytes. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
	const out = new Map<string, Buffer>();
	const walk = async (sub: string) => {
		for (const name of await readdir(join(dir, sub))) {
			const rel = sub ? join(sub, name) : name;
			const info = await lstat(join(dir, rel));
			if (info.isDirectory()) await walk(rel);
			else out.set(rel, await readFile(join(dir, rel)).catch(() => Buffer.alloc(0)));
		}
	};
	await walk("");
	return out;
}

/** Fails with the places a secret shows up in. */
export function findSecret(secret: string, texts: Map<string, string | Buffer>): string[] {
	return [...texts].filter(([, text]) => Buffer.from(text).includes(secret)).map(([where]) => where);
}

export { HubServer };
