/** Where the Hugging Face cache and token live: huggingface_hub's rules (constants.py), in one place. */
import { join } from "node:path";
import { expandHome, userCacheDir } from "../util/home-paths.js";

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHomeDir(env: NodeJS.ProcessEnv = process.env): string {
	return env.HF_HOME ? expandHome(env.HF_HOME) : join(userCacheDir(env), "huggingface");
}

/** The hub cache root: `$HF_HUB_CACHE`, else the older `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
	const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
	return explicit ? expandHome(explicit) : join(hfHomeDir(env), "hub");
}

/** Where `hf auth login` stores the token: `$HF_TOKEN_PATH`, else `$HF_HOME/token`. */
export function tokenFilePath(env: NodeJS.ProcessEnv = process.env): string {
	return env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : join(hfHomeDir(env), "token");
}

/** `org/name` -> `models--org--name`, the folder huggingface_hub uses. */
export function repoCacheFolderName(repo: string): string {
	return `models--${repo.split("/").join("--")}`;
}
