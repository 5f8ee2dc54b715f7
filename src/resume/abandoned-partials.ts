import { lstat, readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isProcessRunning } from "../util/process-running.js";
import { removeCommand, shellQuote } from "../util/shell-words.js";
import { formatBytes } from "../util/size.js";
import { parsePartialPath, partialPathOf } from "./partial-names.js";
import { RESUME_RECORD_NAME, type ResumeRecord, readResumeRecord } from "./resume-record.js";

/** A staging (or replaced-output) folder of an earlier run whose process is gone: kill -9, reboot, OOM. */
export interface AbandonedPartial {
	path: string;
	pid: number;
	bytes: number;
	/** "partial": a staging folder (resumable when it has a record); "old": an output being replaced by --overwrite. */
	kind: "partial" | "old";
	/** The staging folder's resume record, when it has one. */
	record?: ResumeRecord;
	/** A staging folder killed before it held anything (at most the record's temporary file): nothing in it to keep. */
	empty: boolean;
}

/**
 * The `.<name>.moe-merge-partial-<pid>` and `.<name>.moe-merge-old-<pid>` folders beside `target` left
 * by processes that no longer run (same machine: the pid is checked). They are reported, never
 * deleted silently: the user may want to look into them.
 */
export async function findAbandonedPartials(target: string): Promise<AbandonedPartial[]> {
	const dir = resolve(target);
	const entries = await readdir(dirname(dir)).catch(() => [] as string[]);
	const found: AbandonedPartial[] = [];
	for (const name of entries.sort()) {
		const path = join(dirname(dir), name);
		const parsed = parsePartialPath(path);
		if (!parsed || parsed.target !== dir || parsed.pid === process.pid || isProcessRunning(parsed.pid)) continue;
		const { kind, pid } = parsed;
		const record = kind === "partial" ? await readResumeRecord(path) : undefined;
		const empty = kind === "partial" && !record && (await readdir(path).catch(() => [])).every((n) => n === `${RESUME_RECORD_NAME}.tmp`);
		found.push({ path, pid, bytes: await treeBytes(path), kind, empty, ...(record && { record }) });
	}
	return found;
}

/** One line for the user: what, how big, and the commands that resume it (when it can be) or remove it. */
export function describeAbandoned(partial: AbandonedPartial): string {
	const what = `${partial.path} (${formatBytes(partial.bytes)}) was left by process ${partial.pid}, which is no longer running`;
	const remove = `remove it with: ${removeCommand(partial.path)}`;
	if (!partial.record) return `${what}; ${remove}`;
	const done = `${partial.record.complete.length} of ${partial.record.shards.length} shards complete`;
	const output = parsePartialPath(partial.path)?.target ?? partial.path;
	return `${what} (${done}); resume it with: ${resumeCommand(partial.record, output)}; or ${remove}`;
}

/** The last words of a merge of `target` interrupted by `signal`: the folder kept for `--resume` and the commands, or that nothing was kept. */
export async function describeInterrupted(target: string, signal: string): Promise<{ message: string; hint?: string }> {
	const path = partialPathOf(target, "partial");
	const record = await readResumeRecord(path);
	if (!record) return { message: `interrupted by ${signal}; no shard was complete, nothing is kept` };
	return {
		message: `interrupted by ${signal}; ${record.complete.length} of ${record.shards.length} shards are complete (fsynced, sha256 recorded) and kept in ${path} (${formatBytes(await treeBytes(path))})`,
		hint: `continue with: ${resumeCommand(record, resolve(target))}; or remove it with: ${removeCommand(path)}`,
	};
}

/** The interrupted command with --resume (from the folder it ran in), or the recipe and output when it was a library call. */
export function resumeCommand(record: ResumeRecord, output: string): string {
	if (!record.command) return `moe-merge ${shellQuote(record.recipe.path)} ${shellQuote(output)} --resume (with the options of the interrupted merge)`;
	const { cwd, argv } = record.command;
	const args = [...argv.map(shellQuote), ...(argv.includes("--resume") ? [] : ["--resume"])].join(" ");
	const line = `moe-merge ${args}`;
	return resolve(cwd) === process.cwd() ? line : `(cd ${shellQuote(cwd)} && ${line})`;
}

async function treeBytes(path: string): Promise<number> {
	let bytes = 0;
	for (const name of await readdir(path, { recursive: true }).catch(() => [] as string[])) {
		bytes += await lstat(join(path, name)).then((s) => (s.isFile() ? s.size : 0), () => 0);
	}
	return bytes;
}
