/** huggingface_hub's cache and token locations (constants.py), from the environment. */
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hubCacheDir, tokenFilePath } from "../../src/hub/index.js";

describe("hubCacheDir", () => {
	const home = homedir();
	const cases: [string, NodeJS.ProcessEnv, string][] = [
		["HF_HUB_CACHE first", { HF_HUB_CACHE: "/c/hub", HUGGINGFACE_HUB_CACHE: "/old", HF_HOME: "/h", XDG_CACHE_HOME: "/x" }, "/c/hub"],
		["then the older HUGGINGFACE_HUB_CACHE", { HUGGINGFACE_HUB_CACHE: "/old", HF_HOME: "/h" }, "/old"],
		["then HF_HOME/hub", { HF_HOME: "/h", XDG_CACHE_HOME: "/x" }, "/h/hub"],
		["then XDG_CACHE_HOME/huggingface/hub", { XDG_CACHE_HOME: "/x" }, "/x/huggingface/hub"],
		["else ~/.cache/huggingface/hub", {}, join(home, ".cache/huggingface/hub")],
		["~ expanded, as expanduser does", { HF_HUB_CACHE: "~/hf" }, join(home, "hf")],
		["an empty variable counts as unset", { HF_HUB_CACHE: "", HF_HOME: "/h" }, "/h/hub"],
	];
	for (const [what, env, expected] of cases) it(what, () => assert.equal(hubCacheDir(env), expected));
});

describe("tokenFilePath", () => {
	const cases: [string, NodeJS.ProcessEnv, string][] = [
		["HF_TOKEN_PATH first", { HF_TOKEN_PATH: "/t/token", HF_HOME: "/h" }, "/t/token"],
		["then HF_HOME/token", { HF_HOME: "/h" }, "/h/token"],
		["then XDG_CACHE_HOME/huggingface/token", { XDG_CACHE_HOME: "/x" }, "/x/huggingface/token"],
	];
	for (const [what, env, expected] of cases) it(what, () => assert.equal(tokenFilePath(env), expected));
});
