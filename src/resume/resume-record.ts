import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileDurably } from "./write-durably.js";

/**
 * The resume record a merge keeps in its staging folder: what identifies the job (recipe, inputs,
 * options that change the shards' bytes, the planned shards) and each shard completed so far with its
 * sha256. `--resume` trusts it only so far: a kept shard must still hash to what is recorded here.
 * Hidden, so the output lock never lists it; removed just before the folder is renamed into place.
 */
export const RESUME_RECORD_NAME = ".moe-merge-resume.json";

export interface ResumeRecord {
	resumeRecordVersion: 1;
	/** `moe-merge 0.1.0`: another version may write other bytes. */
	tool: string;
	/** How the interrupted merge was started, for the command that resumes it (absent for library calls). */
	command?: { cwd: string; argv: string[] };
	/** `path` absolute; `text` as read (its sha256 identifies it, the text names the line that changed). */
	recipe: { path: string; sha256: string; text: string };
	/** Options that change the shards' bytes (dtype, architecture and gate mode are in the recipe and the shard plan). */
	options: { seed: number; layout: string; shardSize: number };
	/** Each input model (as the recipe names it) and the files the merge reads from it. */
	inputs: RecordedInput[];
	/** Every planned shard: its name, size on disk and the sha256 of its planned header (tensor names, dtypes, shapes, offsets). */
	shards: { name: string; bytes: number; header: string }[];
	/** Shards written, fsynced and hashed, in the order they completed. */
	complete: { name: string; size: number; sha256: string }[];
	/** Hidden-state gates once computed: what the model card and the summary need when no shard needs the routers again. */
	gates?: { summary: unknown; warnings: string[] };
	/** The file of router values saved with the gates (recorded-routers.ts): its size and sha256. */
	routers?: { bytes: number; sha256: string };
	/** GGUF files (`--gguf`) written, fsynced and hashed: a resume keeps each one that still checks out (kept-gguf.ts). */
	gguf?: RecordedGguf[];
}

/** A complete GGUF file: its name, size, the sha256 of its planned header (metadata and tensor table) and of the whole file. */
export interface RecordedGguf {
	name: string;
	bytes: number;
	header: string;
	sha256: string;
}

export interface RecordedInput {
	/** The reference as the recipe writes it. */
	model: string;
	/** Hub commit of the snapshot. */
	commit?: string;
	/** `stamp` is size:mtime:inode when the merge opened it; `sha256` is added once the lock's hashing has read the file. */
	files: { name: string; stamp: string; sha256?: string }[];
}

/** Reads a staging folder's record; undefined when there is none (killed before its first write, or an older moe-merge). */
export async function readResumeRecord(dir: string): Promise<ResumeRecord | undefined> {
	let text: string;
	try {
		text = await readFile(join(dir, RESUME_RECORD_NAME), "utf8");
	} catch {
		return undefined;
	}
	try {
		const record = JSON.parse(text) as ResumeRecord;
		const ok = record?.resumeRecordVersion === 1 && Array.isArray(record.inputs) && Array.isArray(record.shards) && Array.isArray(record.complete) && typeof record.recipe?.sha256 === "string";
		return ok ? record : undefined;
	} catch {
		// Written atomically, so a torn record is not ours: treat the folder as not resumable.
		return undefined;
	}
}

/**
 * Keeps the record on disk up to date: every change is written to a temporary file, fsynced and renamed
 * over the record, one at a time, so after a crash or power loss the record is an old or the new
 * version, never a torn one, and never names a shard whose data was not durable first.
 */
export class ResumeJournal {
	private writing: Promise<void> = Promise.resolve();
	private closed = false;

	private constructor(
		readonly dir: string,
		private record: ResumeRecord,
	) {}

	static async start(dir: string, record: ResumeRecord): Promise<ResumeJournal> {
		const journal = new ResumeJournal(dir, record);
		await journal.update(() => record);
		return journal;
	}

	get current(): ResumeRecord {
		return this.record;
	}

	/** Applies `change` to the record and writes it; resolves once it is durable. */
	update(change: (record: ResumeRecord) => ResumeRecord): Promise<void> {
		const next = this.writing.then(async () => {
			// After close() the record stays as it is: the folder is becoming the output, or kept for a resume.
			if (this.closed) return;
			this.record = change(this.record);
			await writeFileDurably(join(this.dir, RESUME_RECORD_NAME), `${JSON.stringify(this.record, null, 1)}\n`);
		});
		this.writing = next.catch(() => undefined);
		return next;
	}

	/** Records one more complete shard (call after its data is fsynced). */
	shardDone(name: string, size: number, sha256: string): Promise<void> {
		return this.update((r) => ({ ...r, complete: [...r.complete.filter((c) => c.name !== name), { name, size, sha256 }] }));
	}

	/** Lets the writes under way finish and takes no more. */
	async close(): Promise<void> {
		this.closed = true;
		await this.writing;
	}

	/** Removes the record (the folder is complete and about to become the output). */
	async remove(): Promise<void> {
		await this.close();
		await rm(join(this.dir, RESUME_RECORD_NAME), { force: true });
	}
}
