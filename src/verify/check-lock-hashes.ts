import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { MoeMergeError } from "../errors.js";
import { sha256Files } from "../lock/hash-files.js";
import { LOCK_FILE_NAME, readLock } from "../lock/merge-lock.js";
import { type CheckpointProblem, messageWithoutPath } from "./problem.js";

/**
 * When the checkpoint has a moe-merge.lock.json: every file it records has that size and sha256, and
 * no weight or JSON file is there that it does not record. Undefined when there is no lock.
 */
export async function checkLockHashes(dir: string): Promise<{ problems: CheckpointProblem[]; hashed: number } | undefined> {
	const path = join(dir, LOCK_FILE_NAME);
	let lock;
	try {
		lock = await readLock(path);
	} catch (error) {
		if (!(error instanceof MoeMergeError)) throw error;
		return { problems: [{ file: LOCK_FILE_NAME, message: messageWithoutPath(error, path) }], hashed: 0 };
	}
	if (!lock) return undefined;
	if (!Array.isArray(lock.output?.files)) {
		return { problems: [{ file: LOCK_FILE_NAME, message: "records no output files (it is the lock of a recipe, not of a merged model)" }], hashed: 0 };
	}
	const problems: CheckpointProblem[] = [];
	const present: { path: string; size: number; sha256: string }[] = [];
	for (const file of lock.output.files) {
		if (!isLockedName(file)) {
			problems.push({ file: LOCK_FILE_NAME, message: `has an output entry that is not {path, size, sha256} of a file in this folder: ${JSON.stringify(file).slice(0, 120)}` });
			continue;
		}
		const size = await stat(join(dir, file.path)).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
		if (size === undefined) problems.push({ file: file.path, message: `is missing (${LOCK_FILE_NAME} records it)` });
		else if (size !== file.size) problems.push({ file: file.path, message: `is ${size} bytes, ${LOCK_FILE_NAME} records ${file.size}` });
		else present.push(file);
	}
	const hashes = await sha256Files(present.map((f) => join(dir, f.path)));
	for (const file of present) {
		if (hashes.get(join(dir, file.path)) !== file.sha256) problems.push({ file: file.path, message: `sha256 differs from the one ${LOCK_FILE_NAME} records (the file changed after the merge)` });
	}
	const recorded = new Set(lock.output.files.map((f) => f?.path));
	for (const name of (await readdir(dir)).sort()) {
		if (/\.(safetensors|json)$/.test(name) && name !== LOCK_FILE_NAME && !recorded.has(name)) {
			problems.push({ file: name, message: `is not recorded in ${LOCK_FILE_NAME} (added after the merge)` });
		}
	}
	return { problems, hashed: present.length };
}

/** A lock entry naming a plain file of the folder (a lock from elsewhere must not make us read outside it). */
function isLockedName(file: unknown): file is { path: string; size: number; sha256: string } {
	const f = file as Record<string, unknown> | null;
	return typeof f?.path === "string" && typeof f.size === "number" && typeof f.sha256 === "string" && /^[^/\\]+$/.test(f.path) && f.path !== ".." && f.path !== ".";
}
