import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isProcessRunning } from "../util/process-running.js";

/** How often a waiting process looks at the lock again. */
const POLL_MS = 200;
/** A lock file without a readable owner this old was left half-written by a killed process. */
const UNREADABLE_STALE_MS = 10_000;

export interface BlobLockOptions {
	signal?: AbortSignal;
	/** Called once when another live process holds the lock, with what it says about itself. */
	onWait?: (holder: string) => void;
}

/**
 * Runs `fn` while holding the lock file `path` (created exclusively, holding `pid host`), so that two
 * moe-merge processes never append to the same `.incomplete` file: the second waits, then finds the
 * blob in place. Node has no flock(2), so this is not huggingface_hub's lock protocol; the lock sits
 * beside its own in `.locks/` under another name (see docs/hub.md). A lock whose process is gone (kill -9,
 * power loss) is taken over, and the download resumes from the part on disk.
 */
export async function withBlobLock<T>(path: string, fn: () => Promise<T>, options: BlobLockOptions = {}): Promise<T> {
	const me = `${process.pid} ${hostname()}`;
	await mkdir(dirname(path), { recursive: true });
	let reported = false;
	for (;;) {
		options.signal?.throwIfAborted();
		try {
			const handle = await open(path, "wx", 0o664);
			await handle.writeFile(`${me}\n`);
			await handle.close();
			break;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
		}
		const holder = await readFile(path, "utf8").catch(() => undefined);
		if (holder === undefined) continue; // released meanwhile
		if (await isStale(path, holder)) {
			await rm(path, { force: true });
			continue;
		}
		if (!reported) options.onWait?.(holder.trim());
		reported = true;
		await sleep(POLL_MS, undefined, { signal: options.signal });
	}
	try {
		return await fn();
	} finally {
		// Only our own lock is removed (a takeover after a long pause could have replaced it).
		if ((await readFile(path, "utf8").catch(() => "")).trim() === me) await rm(path, { force: true });
	}
}

/** The holder is a process of this machine that no longer runs, or the file never got its owner written. */
async function isStale(path: string, holder: string): Promise<boolean> {
	const match = /^(\d+) (.+)\n$/.exec(holder);
	if (!match) {
		const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
		return age > UNREADABLE_STALE_MS;
	}
	return match[2] === hostname() && !isProcessRunning(Number(match[1]));
}
