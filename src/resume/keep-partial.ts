import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ROUTERS_FILE_NAME } from "./recorded-routers.js";
import { RESUME_RECORD_NAME, type ResumeJournal, readResumeRecord } from "./resume-record.js";

/**
 * After an interruption (SIGTERM, SIGINT): keeps in the staging folder what `--resume` continues from,
 * the resume record, the shards and GGUF files it names as complete (written and fsynced before it
 * named them) and the saved router values, and deletes the rest (the shard being written, side files). A folder with
 * nothing worth keeping (no complete shard, no saved routers) is left to the caller to remove.
 * Returns whether it was kept.
 */
export async function keepForResume(dir: string, journal: ResumeJournal): Promise<boolean> {
	await journal.close();
	const record = await readResumeRecord(dir);
	if (!record || (record.complete.length === 0 && !record.routers)) return false;
	const gguf = (record.gguf ?? []).map((g) => g.name);
	await removeAllBut(dir, [RESUME_RECORD_NAME, ...record.complete.map((c) => c.name), ...(record.routers ? [ROUTERS_FILE_NAME] : []), ...gguf]);
	return true;
}

/** Deletes every entry of `dir` not named in `keep`. */
export async function removeAllBut(dir: string, keep: readonly string[]): Promise<void> {
	const kept = new Set(keep);
	for (const name of await readdir(dir)) if (!kept.has(name)) await rm(join(dir, name), { recursive: true, force: true });
}
