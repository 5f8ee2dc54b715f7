import { homedir } from "node:os";
import { join } from "node:path";

/** `~` and `~/...` as the shell (and Python's os.path.expanduser) read them; other paths unchanged. */
export function expandHome(path: string): string {
	if (path === "~") return homedir();
	if (path.startsWith("~/") || path.startsWith("~\\")) return join(homedir(), path.slice(2));
	return path;
}

/** The user's cache folder: `$XDG_CACHE_HOME`, else `~/.cache`. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
	return env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), ".cache");
}
