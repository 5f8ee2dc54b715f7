import type { ResumeOutcome } from "../resume/resume-partial.js";
import type { ResumeStart } from "../resume/resume-start.js";

/**
 * Writes the shards of a job that may be resuming: the claimed shards (a killed run's, their sha256
 * being checked meanwhile) are skipped; once the check is done, those that failed it are written
 * after the others. `beforeRewrite` runs just before that second pass (a merge restarts its forward
 * pass there when the rewritten shard holds the routers). Returns every shard's sha256.
 */
export async function writeKeepingClaimed(
	resume: ResumeStart,
	write: (done: ReadonlyMap<string, string>) => Promise<Map<string, string>>,
	hooks: { onResume?: (outcome: ResumeOutcome) => void; beforeRewrite?: () => void } = {},
): Promise<{ hashes: Map<string, string>; resumed?: ResumeOutcome }> {
	const hashes = await write(resume.claimed);
	if (!resume.outcome) return { hashes };
	const resumed = await resume.outcome;
	hooks.onResume?.(resumed);
	const failed = new Set([...resume.claimed.keys()].filter((name) => !resumed.kept.includes(name)));
	if (failed.size === 0) return { hashes, resumed };
	hooks.beforeRewrite?.();
	return { hashes: await write(new Map([...hashes].filter(([name]) => !failed.has(name)))), resumed };
}
