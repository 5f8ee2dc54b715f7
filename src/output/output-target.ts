import { readdir, stat, statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { OutputError } from "../errors.js";
import { removeCommand } from "../util/shell-words.js";
import { formatBytes } from "../util/size.js";
import { checkOutputSparesInputs } from "./protect-inputs.js";

/** The checks `merge` and `plan` make of an output folder before any work. */
export interface OutputCheckOptions {
	overwrite?: boolean;
	/** Bytes of the output's shards; refused early when the file system has less free (with OUTPUT_SPACE_MARGIN). */
	requiredBytes?: number;
	/** Folders killed merges left beside the target, with their size: named, with the commands that remove them, when the space is short. */
	leftovers?: readonly { path: string; bytes: number }[];
	/** Folders of the input models: an output that is, contains or lies inside one is refused, even with overwrite. */
	inputs?: readonly string[];
}

/** Room asked beyond the shards: config, tokenizer, model card and lock, and the file system's rounding. */
export const OUTPUT_SPACE_MARGIN = 50_000_000;

/** Refuses an input's folder, an existing non-empty target (unless overwriting) and a file system without room, before any work. */
export async function checkOutputTarget(target: string, options: OutputCheckOptions = {}): Promise<void> {
	const dir = resolve(target);
	if (options.inputs) await checkOutputSparesInputs(dir, options.inputs);
	let entries: string[] | undefined;
	try {
		const info = await stat(dir);
		if (!info.isDirectory()) throw new OutputError(`output ${dir} exists and is not a folder`, { file: dir });
		entries = await readdir(dir);
	} catch (error) {
		if (error instanceof OutputError) throw error;
		if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
			throw new OutputError(`cannot inspect output ${dir}: ${(error as Error).message}`, { file: dir, cause: error });
		}
	}
	if (entries && entries.length > 0 && !options.overwrite) {
		throw new OutputError(`output folder ${dir} already exists and is not empty`, { file: dir, hint: "choose another folder or pass --overwrite" });
	}
	if (options.requiredBytes !== undefined) {
		const free = await freeBytes(dirname(dir));
		const needed = options.requiredBytes + OUTPUT_SPACE_MARGIN;
		if (free !== undefined && free < needed) {
			const left = options.leftovers ?? [];
			const held = left.reduce((sum, l) => sum + l.bytes, 0);
			const room = held > 0 ? `; ${left.length} folder(s) left beside it by interrupted merges hold ${formatBytes(held)}${free + held >= needed ? ", enough once removed" : ""}` : "";
			throw new OutputError(`not enough free space for the output in ${dirname(dir)}: needs ${formatBytes(needed)}, has ${formatBytes(free)}${room}`, {
				file: dir,
				hint: held > 0 ? `remove them if you do not mean to resume them: ${left.map((l) => removeCommand(l.path)).join("; ")}` : undefined,
			});
		}
	}
}

/** Free bytes for an unprivileged user on the file system holding `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number | undefined> {
	for (let d = resolve(dir); ; d = dirname(d)) {
		try {
			const fs = await statfs(d);
			return fs.bavail * fs.bsize;
		} catch {
			if (dirname(d) === d) return undefined;
		}
	}
}
