import { ResumeJournal, type ResumeRecord } from "./resume-record.js";
import { type ResumeCandidate, type ResumeOutcome, type StoredElsewhere, claimShards, verifyClaimedShards } from "./resume-partial.js";

/** The resume record of a merge, and (resuming) the shards it need not write. */
export interface ResumeStart {
	journal: ResumeJournal;
	/** Shards of the taken-over folder not to write again: name -> recorded sha256 (checked by `outcome`). */
	claimed: Map<string, string>;
	/**
	 * Resuming: settles once the claimed shards are hashed, while the merge writes the others; those
	 * whose sha256 differs are deleted and dropped from the record by then, to be written again.
	 */
	outcome?: Promise<ResumeOutcome>;
}

/**
 * Writes the resume record before the first shard: this job's, carrying (when a folder was taken over)
 * the shards still there at their recorded size and the gates computed there, and starts checking
 * those shards' sha256. A claimed shard stays in the record unchecked: the recorded sha256 is what it
 * must hash to, and every resume checks again.
 */
export async function startResume(dir: string, job: ResumeRecord, candidate: ResumeCandidate | undefined, removedEmpty: string[], signal?: AbortSignal, storedElsewhere?: StoredElsewhere): Promise<ResumeStart> {
	if (!candidate) return { journal: await ResumeJournal.start(dir, job), claimed: new Map() };
	const { claimed, rejected } = await claimShards(dir, candidate.record, job);
	const { gates, routers, gguf } = candidate.record;
	// The GGUF files stay recorded unchecked, like the claimed shards: the merge checks them (kept-gguf.ts).
	const journal = await ResumeJournal.start(dir, { ...job, complete: claimed, ...(gates && { gates }), ...(gates && routers && { routers }), ...(gguf && { gguf }) });
	const outcome = verifyClaimedShards(dir, claimed, signal, storedElsewhere).then(async ({ kept, failed }) => {
		const redo = new Set(failed.map((f) => f.name));
		if (redo.size > 0) await journal.update((r) => ({ ...r, complete: r.complete.filter((c) => !redo.has(c.name)) }));
		return { from: candidate.path, pid: candidate.pid, kept, rejected: [...rejected, ...failed], shards: job.shards.length, removedEmpty };
	});
	outcome.catch(() => {}); // awaited once the other shards are written, or abandoned when the merge fails first
	return { journal, claimed: new Map(claimed.map((c) => [c.name, c.sha256])), outcome };
}
