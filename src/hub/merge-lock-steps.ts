import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import type { MergePlan } from "../merge/plan-merge.js";
import { VERSION } from "../version.js";
import { assertMatchesLock } from "./check-lock.js";
import { lockFolderFiles, lockSources } from "./lock-sources.js";
import { LOCK_FILE_NAME, type LockedSource, type MergeLock, readLock, recipeLockPath, writeLock } from "./merge-lock.js";

/** The moments of a merge that involve its lock, so run-merge.ts stays about merging. */

/** Input hashes being computed in the background (worker threads) while the merge writes. */
export interface InputHashing {
	sources: Promise<LockedSource[]>;
	/** Stops the hashing (the merge failed). */
	cancel(): void;
}

/** Starts hashing the inputs of a plan, to overlap with writing the output. */
export function hashInputs(plan: MergePlan, options: { copyTokenizer: boolean }): InputHashing {
	const abort = new AbortController();
	const sources = lockSources(plan, { copyTokenizer: options.copyTokenizer, signal: abort.signal });
	sources.catch(() => {}); // awaited later, or abandoned when the merge fails first
	return { sources, cancel: () => abort.abort() };
}

/** For --locked, before anything is written: the sources must match the lock beside the recipe. */
export async function checkRecipeLock(plan: MergePlan, sources: LockedSource[]): Promise<void> {
	const file = recipeLockPath(plan.recipe.file);
	assertMatchesLock(file, await readLock(file), sources);
}

/**
 * Into the (staging) output folder, last: the sources and the sha256 of every file written.
 * `known` holds hashes computed while writing (the shards), so only the small files are read back.
 */
export async function writeOutputLock(dir: string, plan: MergePlan, sources: LockedSource[], known?: ReadonlyMap<string, string>): Promise<string> {
	const files = await lockFolderFiles(dir, LOCK_FILE_NAME, undefined, known);
	await writeLock(join(dir, LOCK_FILE_NAME), { ...lockHead(plan, sources), output: { files } });
	return LOCK_FILE_NAME;
}

/**
 * Writes `<recipe>.lock.json` beside the recipe when its sources changed (or it is new), like npm
 * updates package-lock.json; never with --locked. Returns its path when written.
 */
export async function updateRecipeLock(plan: MergePlan, sources: LockedSource[]): Promise<string | undefined> {
	const file = recipeLockPath(plan.recipe.file);
	const next = lockHead(plan, sources);
	const old = await readLock(file).catch(() => undefined);
	if (old && JSON.stringify(old) === JSON.stringify(next)) return undefined;
	await writeLock(file, next);
	return file;
}

function lockHead(plan: MergePlan, sources: LockedSource[]): MergeLock {
	return {
		lockfileVersion: 1,
		tool: `moe-merge ${VERSION}`,
		recipe: { file: basename(plan.recipe.file), sha256: createHash("sha256").update(plan.recipe.text).digest("hex") },
		sources,
	};
}
