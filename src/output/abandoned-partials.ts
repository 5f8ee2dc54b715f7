import { lstat, readdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { formatBytes } from "../util/size.js";

/** A staging (or replaced-output) folder of an earlier run whose process is gone: kill -9, reboot, OOM. */
export interface AbandonedPartial {
	path: string;
	pid: number;
	bytes: number;
}

/**
 * The `.<name>.moe-merge-partial-<pid>` and `.<name>.moe-merge-old-<pid>` folders beside `target` left
 * by processes that no longer run (same machine: the pid is checked). They are reported, never
 * deleted silently: the user may want to look into them.
 */
export async function findAbandonedPartials(target: string): Promise<AbandonedPartial[]> {
	const dir = resolve(target);
	const pattern = new RegExp(`^\\.${escape(basename(dir))}\\.moe-merge-(?:partial|old)-(\\d+)$`);
	const entries = await readdir(dirname(dir)).catch(() => [] as string[]);
	const found: AbandonedPartial[] = [];
	for (const name of entries.sort()) {
		const pid = Number(pattern.exec(name)?.[1]);
		if (!pid || pid === process.pid || isRunning(pid)) continue;
		const path = join(dirname(dir), name);
		found.push({ path, pid, bytes: await treeBytes(path) });
	}
	return found;
}

/** One line for the user: what, how big, and the command that removes it. */
export function describeAbandoned(partial: AbandonedPartial): string {
	return `${partial.path} (${formatBytes(partial.bytes)}) was left by process ${partial.pid}, which is no longer running; remove it with: rm -rf '${partial.path.replaceAll("'", "'\\''")}'`;
}

function isRunning(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === "EPERM";
	}
}

async function treeBytes(path: string): Promise<number> {
	let bytes = 0;
	for (const name of await readdir(path, { recursive: true }).catch(() => [] as string[])) {
		bytes += await lstat(join(path, name)).then((s) => (s.isFile() ? s.size : 0), () => 0);
	}
	return bytes;
}

function escape(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
