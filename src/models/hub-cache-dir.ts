import { homedir } from "node:os";
import { join } from "node:path";

/** The Hugging Face hub cache root, following huggingface_hub: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
	if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
	const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
	return join(hfHome, "hub");
}

/** `org/name` -> `models--org--name`, the folder huggingface_hub uses. */
export function repoCacheFolderName(repo: string): string {
	return `models--${repo.split("/").join("--")}`;
}
