import { readFile, rename, writeFile } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { MoeMergeError } from "../errors.js";
import { sha256Hex } from "../util/sha256.js";
import { VERSION } from "../version.js";

/** The lock written into every merge output (and pushed with it). */
export const LOCK_FILE_NAME = "moe-merge.lock.json";

/** One file and its content hash. */
export interface LockedFile {
	path: string;
	size: number;
	sha256: string;
	/**
	 * Only for a Hub weight file read with range requests (a merge streamed from the Hub): "streamed" when
	 * every byte was hashed as it came and matched the Hub's sha256, "hub-lfs" when it was read in part or
	 * out of order and the Hub's LFS sha256 is recorded as the Hub gave it.
	 */
	check?: "streamed" | "hub-lfs";
}

/** One input model as a merge used it. */
export interface LockedSource {
	/** `base`, `expert 0`, ..., `shared expert 0`. */
	role: string;
	/** The reference as the recipe writes it (no absolute path: the lock is shared and pushed). */
	ref: string;
	kind: "hub" | "local";
	/** Hub sources: `org/name`, the revision asked for, and the commit it resolved to. */
	repo?: string;
	revision?: string;
	commit?: string;
	/** Every file of the model the merge read or copied. */
	files: LockedFile[];
}

/**
 * What a merge was made from, and (in the output's copy) what it made. Like package-lock.json: the copy
 * beside the recipe pins the sources for `--locked`, the copy in the output records the result.
 */
export interface MergeLock {
	lockfileVersion: 1;
	/** `moe-merge 0.1.0`. */
	tool: string;
	recipe: { file: string; sha256: string };
	sources: LockedSource[];
	/** Only in the output's copy: every file written except the lock itself. */
	output?: { files: LockedFile[] };
}

/** The recipe a lock is about: its file and its text as read. */
export interface LockRecipe {
	file: string;
	text: string;
}

/** A lock without the output part: what the merge was made from. */
export function lockHead(recipe: LockRecipe, sources: LockedSource[]): MergeLock {
	return {
		lockfileVersion: 1,
		tool: `moe-merge ${VERSION}`,
		recipe: { file: basename(recipe.file), sha256: sha256Hex(recipe.text) },
		sources,
	};
}

/** The lock kept beside a recipe: `mixtral.yml` -> `mixtral.lock.json` (several recipes can share a folder). */
export function recipeLockPath(recipeFile: string): string {
	const name = basename(recipeFile);
	const ext = extname(name);
	return join(dirname(recipeFile), `${ext === ".yml" || ext === ".yaml" ? name.slice(0, -ext.length) : name}.lock.json`);
}

/** Reads a lock file; undefined when there is none. */
export async function readLock(file: string): Promise<MergeLock | undefined> {
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
		throw new MoeMergeError(`cannot read the lock file ${file} (${(error as NodeJS.ErrnoException).code})`, { file });
	}
	let lock: MergeLock;
	try {
		lock = JSON.parse(text);
	} catch (cause) {
		throw new MoeMergeError(`${file} is not valid JSON (${(cause as Error).message})`, { file, hint: "delete it and merge once without --locked to write it again" });
	}
	if (lock?.lockfileVersion !== 1 || !Array.isArray(lock.sources)) {
		throw new MoeMergeError(`${file} is not a moe-merge lock file (lockfileVersion 1)`, { file, hint: "delete it and merge once without --locked to write it again" });
	}
	return lock;
}

/** Writes the lock atomically (a reader never sees half of it), as stable, diff-friendly JSON. */
export async function writeLock(file: string, lock: MergeLock): Promise<void> {
	const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
	await writeFile(temp, `${JSON.stringify(lock, null, 2)}\n`);
	await rename(temp, file);
}
