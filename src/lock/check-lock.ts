import { MoeMergeError } from "../errors.js";
import type { LockedSource, MergeLock } from "./merge-lock.js";

/**
 * How the sources of a merge differ from a lock: a source added, removed or renamed, a Hub revision
 * that now resolves to another commit, an input file added, removed or changed. Empty when they match.
 */
export function lockDifferences(locked: MergeLock, sources: LockedSource[]): string[] {
	const problems: string[] = [];
	const before = new Map(locked.sources.map((s) => [s.role, s]));
	for (const now of sources) {
		const was = before.get(now.role);
		const who = `${now.role} (${now.ref})`;
		before.delete(now.role);
		if (!was) {
			problems.push(`${who} is not in the lock`);
			continue;
		}
		if (was.ref !== now.ref) {
			problems.push(`${now.role}: the recipe names ${now.ref}, the lock has ${was.ref}`);
			continue;
		}
		if (was.commit !== now.commit) problems.push(`${who} resolves to commit ${now.commit ?? "(none)"}, the lock has ${was.commit ?? "(none)"}`);
		const oldFiles = new Map(was.files.map((f) => [f.path, f]));
		for (const file of now.files) {
			const old = oldFiles.get(file.path);
			oldFiles.delete(file.path);
			if (!old) problems.push(`${who}: ${file.path} is new`);
			else if (old.sha256 !== file.sha256) problems.push(`${who}: ${file.path} changed (sha256 ${short(old.sha256)} -> ${short(file.sha256)})`);
		}
		for (const path of oldFiles.keys()) problems.push(`${who}: ${path} is gone`);
	}
	for (const gone of before.values()) problems.push(`${gone.role} (${gone.ref}) is in the lock but not in the recipe`);
	return problems;
}

/** Refuses a --locked merge whose sources differ from the lock beside the recipe, or that has no lock. */
export function assertMatchesLock(lockFile: string, locked: MergeLock | undefined, sources: LockedSource[]): void {
	if (!locked) {
		throw new MoeMergeError(`--locked: there is no lock file ${lockFile}`, {
			file: lockFile,
			hint: "merge once without --locked to write it (and commit it next to the recipe)",
		});
	}
	const problems = lockDifferences(locked, sources);
	if (problems.length === 0) return;
	throw new MoeMergeError(`--locked: the sources differ from ${lockFile}:\n  ${problems.join("\n  ")}`, {
		file: lockFile,
		hint: "pin the revisions in the recipe (org/name@<commit>) or restore the files; merging without --locked accepts the new sources and rewrites the lock",
	});
}

function short(sha: string): string {
	return sha.slice(0, 12);
}
