import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { OutputError } from "../errors.js";
import { sha256Files } from "../lock/hash-files.js";
import { removeCommand } from "../util/shell-words.js";
import { findAbandonedPartials } from "./abandoned-partials.js";
import { removeAllBut } from "./keep-partial.js";
import { RESUME_RECORD_NAME, type ResumeRecord } from "./resume-record.js";
import { ROUTERS_FILE_NAME } from "./recorded-routers.js";
import { resumeMismatches } from "./resume-match.js";

/** A staging folder of a killed merge of this output, with its record. */
export interface ResumeCandidate {
	path: string;
	pid: number;
	record: ResumeRecord;
}

/** What a resumed merge keeps and redoes. */
export interface ResumeOutcome {
	/** The folder taken over; undefined when there was nothing to resume (the merge starts from the beginning). */
	from?: string;
	pid?: number;
	/** Shards whose sha256 still matches the record: not written again. */
	kept: string[];
	/** Shards the record names as complete that are written again, and why. */
	rejected: { name: string; reason: string }[];
	shards: number;
	/** Staging folders of this output killed before they held anything, removed. */
	removedEmpty: string[];
}

/**
 * The resumable staging folders beside `outputDir` (their process gone, a record inside), most complete
 * first. Folders killed before they held anything (between their creation and their record) are
 * removed: there is nothing in them to resume or to look into.
 */
export async function findResumeCandidates(outputDir: string): Promise<{ candidates: ResumeCandidate[]; removedEmpty: string[] }> {
	const found = await findAbandonedPartials(outputDir);
	const removedEmpty: string[] = [];
	for (const p of found.filter((f) => f.empty)) {
		await rm(p.path, { recursive: true, force: true });
		removedEmpty.push(p.path);
	}
	const candidates = found.flatMap((p) => (p.kind === "partial" && p.record ? [{ path: p.path, pid: p.pid, record: p.record }] : []));
	return { candidates: candidates.sort((a, b) => b.record.complete.length - a.record.complete.length), removedEmpty };
}

/**
 * The candidate whose record describes this very job; undefined when there are none. When there are
 * candidates and none matches, the merge is refused with the reasons, and the folders stay.
 */
export async function chooseCandidate(candidates: readonly ResumeCandidate[], current: ResumeRecord, modelDirs: ReadonlyMap<string, string>): Promise<ResumeCandidate | undefined> {
	const refusals: string[] = [];
	for (const candidate of candidates) {
		const reasons = await resumeMismatches(candidate.record, current, modelDirs);
		if (reasons.length === 0) return candidate;
		refusals.push(`${candidate.path} is another merge: ${reasons.join("; ")}`);
	}
	if (refusals.length === 0) return undefined;
	throw new OutputError(`cannot resume: ${refusals.join("\n")}`, {
		file: candidates[0]!.path,
		hint: `run the merge it was (same recipe, inputs and options) with --resume, or merge from the start without --resume and remove the partial folder: ${removeCommand(candidates[0]!.path)}`,
	});
}

/**
 * In a taken-over staging folder, claims each shard the record names as complete that is still there
 * with its recorded size, and deletes everything else but the saved router values and the GGUF files
 * recorded complete: the shard that was being written, side files (they are written again). The claimed shards' sha256 is checked by verifyClaimedShards, while the
 * merge writes the other shards.
 */
export async function claimShards(dir: string, recorded: ResumeRecord, current: ResumeRecord): Promise<{ claimed: ResumeRecord["complete"]; rejected: ResumeOutcome["rejected"] }> {
	const planned = new Set(current.shards.map((s) => s.name));
	const rejected: ResumeOutcome["rejected"] = [];
	const claimed: ResumeRecord["complete"] = [];
	for (const entry of recorded.complete) {
		const size = await stat(join(dir, entry.name)).then((s) => s.size, () => undefined);
		if (!planned.has(entry.name)) rejected.push({ name: entry.name, reason: "not a shard of this plan" });
		else if (size === undefined) rejected.push({ name: entry.name, reason: "missing" });
		else if (size !== entry.size) rejected.push({ name: entry.name, reason: `${size} bytes, ${entry.size} recorded` });
		else claimed.push(entry);
	}
	// Complete GGUF files stay too: the merge checks them against its own plan (kept-gguf.ts).
	await removeAllBut(dir, [...claimed.map((c) => c.name), ...(recorded.gguf ?? []).map((g) => g.name), RESUME_RECORD_NAME, ROUTERS_FILE_NAME]);
	return { claimed, rejected };
}

/** True when a shard the record names is stored elsewhere under its recorded sha256 (on the Hub, for a merge streamed there). */
export type StoredElsewhere = (entry: ResumeRecord["complete"][number]) => Promise<boolean>;

/** Hashes the claimed shards (on all cores) and deletes those whose sha256 is not the recorded one: they are written again. */
export async function verifyClaimedShards(dir: string, claimed: ResumeRecord["complete"], signal?: AbortSignal, storedElsewhere?: StoredElsewhere): Promise<{ kept: string[]; failed: ResumeOutcome["rejected"] }> {
	const kept: string[] = [];
	// A merge streamed to the Hub: a shard the Hub holds under its recorded sha256 is kept (its local copy was freed).
	const elsewhere = new Set<string>();
	if (storedElsewhere) for (const entry of claimed) if (await storedElsewhere(entry)) elsewhere.add(entry.name);
	const local = claimed.filter((e) => !elsewhere.has(e.name));
	// The shards were written with O_DIRECT: not in the page cache, so read the same way.
	const hashes = await sha256Files(local.map((e) => join(dir, e.name)), { signal, direct: true });
	kept.push(...elsewhere);
	const failed: ResumeOutcome["rejected"] = [];
	for (const entry of local) {
		if (hashes.get(join(dir, entry.name)) === entry.sha256) {
			kept.push(entry.name);
			continue;
		}
		failed.push({ name: entry.name, reason: "sha256 differs from the recorded one" });
		await rm(join(dir, entry.name), { force: true });
	}
	return { kept, failed };
}
