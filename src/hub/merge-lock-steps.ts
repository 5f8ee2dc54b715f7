import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import type { MergePlan } from "../merge/plan-merge.js";
import { VERSION } from "../version.js";
import { assertMatchesLock } from "./check-lock.js";
import { lockFolderFiles, lockSources } from "./lock-sources.js";
import { LOCK_FILE_NAME, type LockedSource, type MergeLock, readLock, recipeLockPath, writeLock } from "./merge-lock.js";

/** The three moments of a merge that involve its lock, so run-merge.ts stays about merging. */

/**
 * Before anything is written: hashes the inputs and, with `locked`, refuses sources that differ from the
 * lock beside the recipe.
 */
export async function lockInputs(plan: MergePlan, options: { locked?: boolean; copyTokenizer: boolean }): Promise<LockedSource[]> {
	const sources = await lockSources(plan, { copyTokenizer: options.copyTokenizer });
	if (options.locked) {
		const file = recipeLockPath(plan.recipe.file);
		assertMatchesLock(file, await readLock(file), sources);
	}
	return sources;
}

/** Into the (staging) output folder, last: the sources and the sha256 of every file written. */
export async function writeOutputLock(dir: string, plan: MergePlan, sources: LockedSource[]): Promise<string> {
	const files = await lockFolderFiles(dir, LOCK_FILE_NAME);
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
