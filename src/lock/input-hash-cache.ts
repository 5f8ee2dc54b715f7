import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { userCacheDir } from "../util/home-paths.js";

/**
 * sha256 of local input files remembered by (path, size, mtime, inode), like git's index: hashing the
 * inputs of a merge costs about a core-second per 1.4 GB, and the same local models are merged again
 * and again while a recipe is tuned. A changed file (new size, mtime or inode) is hashed again.
 */
interface Entry {
	size: number;
	mtimeMs: number;
	ino: number;
	sha256: string;
}

export function inputHashCacheFile(env: NodeJS.ProcessEnv = process.env): string {
	return join(userCacheDir(env), "moe-merge", "sha256-cache.json");
}

export class InputHashCache {
	private constructor(
		private readonly file: string,
		private readonly entries: Record<string, Entry>,
	) {}

	static async open(file = inputHashCacheFile()): Promise<InputHashCache> {
		try {
			const parsed = JSON.parse(await readFile(file, "utf8"));
			return new InputHashCache(file, parsed && typeof parsed === "object" ? parsed : {});
		} catch {
			// Missing or unreadable: start empty (the cache only saves time).
			return new InputHashCache(file, {});
		}
	}

	/** The remembered hash, if the file is unchanged since. */
	async get(path: string): Promise<string | undefined> {
		const entry = this.entries[path];
		if (!entry) return undefined;
		const info = await stat(path).catch(() => undefined);
		return info && info.size === entry.size && info.mtimeMs === entry.mtimeMs && info.ino === entry.ino ? entry.sha256 : undefined;
	}

	async set(path: string, sha256: string): Promise<void> {
		const info = await stat(path);
		this.entries[path] = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, sha256 };
	}

	/** Written atomically; a failure to save is ignored (read-only home, full disk). */
	async save(): Promise<void> {
		try {
			await mkdir(dirname(this.file), { recursive: true });
			const tmp = `${this.file}.${process.pid}.tmp`;
			await writeFile(tmp, JSON.stringify(this.entries));
			await rename(tmp, this.file);
		} catch {
			// best effort
		}
	}
}
