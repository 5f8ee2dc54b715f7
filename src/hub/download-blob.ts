import { mkdir, open, rename, rm, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import { fileDownloadInfo } from "@huggingface/hub";
import { ContentHash, hashFileInto } from "./content-hash.js";
import { isTransientHubFailure } from "./explain-hub-failure.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { responseError } from "./http-error.js";
import type { HubRequestInit } from "./hub-fetch.js";
import { HubTimeoutError } from "./timed-fetch.js";
import { bodyChunks } from "./read-body.js";
import type { RepoFile } from "./snapshot-files.js";
import { waitToRetry } from "./wait-to-retry.js";

export interface BlobDownload {
	repo: string;
	/** The revision asked for, for messages. */
	revision: string;
	commit: string;
	file: RepoFile;
	/** Where the verified file goes: `blobs/{etag}`. It is written to `{blob}.incomplete` first. */
	blob: string;
	/** Bytes of this file on disk so far (a resumed part included). */
	onBytes?: (bytes: number) => void;
}

/** The connection ended before the whole body arrived (undici reports that as success). */
class ShortBody extends Error {
	readonly code = "ECONNRESET";
}

/**
 * Downloads one file into the cache: appends to `{blob}.incomplete` with Range requests, so a dropped
 * connection is resumed (up to `retries` times now, and from the same point by the next run, as
 * huggingface_hub does with the same file name), checks the content against the Hub's sha256 (LFS) or
 * git sha1 while it streams, and only then renames it into place. A mismatch deletes the file.
 */
export async function downloadBlob(context: HubContext, job: BlobDownload): Promise<void> {
	const incomplete = `${job.blob}.incomplete`;
	await mkdir(dirname(job.blob), { recursive: true });
	// A mismatch after resuming someone else's partial file earns one fresh start.
	const resumed = (await sizeOf(incomplete)) > 0;
	for (let pass = 0; ; pass++) {
		const hash = job.file.sha256 ? ContentHash.sha256() : ContentHash.gitBlob(job.file.size);
		await fetchWithRetries(context, job, incomplete, hash);
		const expected = job.file.sha256 ?? job.file.etag;
		const actual = hash.digest();
		if (actual === expected) break;
		await rm(incomplete, { force: true });
		if (resumed && pass === 0) continue;
		const kind = hash.algorithm === "sha256" ? "sha256" : "git sha1";
		throw new HubError(`${job.repo}: ${job.file.path} arrived corrupted: its ${kind} is ${actual}, the Hub lists ${expected}; the download was deleted`, {
			file: job.blob,
			hint: "run again to download it anew; if it keeps happening, something between you and the Hub (a proxy, the mirror in HF_ENDPOINT) alters the file",
		});
	}
	await rename(incomplete, job.blob);
}

/** A stall (timeout) that brought bytes before stopping is resumed this many times, one that brought none never: with the default 20 s, a stalling server ends in an error well within a minute, and the next run resumes from the bytes kept. */
const STALL_RESUMES = 1;

async function fetchWithRetries(context: HubContext, job: BlobDownload, incomplete: string, hash: ContentHash): Promise<void> {
	const subject = { repo: job.repo, revision: job.revision, file: job.file.path, access: "read" as const };
	let url: string | undefined;
	let stalls = 0;
	for (let attempt = 0; ; attempt++) {
		context.signal?.throwIfAborted();
		const before = hash.bytes;
		try {
			url ??= await downloadUrl(context, job);
			await fetchRemainder(context, url, incomplete, job, hash);
			return;
		} catch (error) {
			const stalledAfterProgress = error instanceof HubTimeoutError && hash.bytes > before && stalls++ < STALL_RESUMES;
			const transient = stalledAfterProgress || isTransientHubFailure(error);
			if (await waitToRetry(context, error, attempt, transient)) continue;
			throw await describeFailure(context, error, subject, incomplete, job, transient || error instanceof HubTimeoutError ? attempt + 1 : 0);
		}
	}
}

/** Where the bytes are: the library probes `resolve/{commit}/{path}` (following the LFS redirect, xet-aware). */
async function downloadUrl(context: HubContext, job: BlobDownload): Promise<string> {
	const info = await fileDownloadInfo({ repo: job.repo, path: job.file.path, revision: job.commit, hubUrl: context.hubUrl, fetch: context.fetch });
	if (!info) throw new HubError(`${job.repo}@${job.commit}: ${job.file.path} is listed in the repo but the Hub cannot serve it (entry not found)`);
	if (info.size !== job.file.size) {
		throw new HubError(`${job.repo}@${job.commit}: ${job.file.path} is ${info.size} bytes at its download address but ${job.file.size} in the repo listing`, {
			hint: "run again; if it persists, HF_ENDPOINT may point at an out-of-date mirror",
		});
	}
	return info.url;
}

/** Appends the bytes from the current end of the `.incomplete` file, restarting if the server ignores Range. */
async function fetchRemainder(context: HubContext, url: string, incomplete: string, job: BlobDownload, hash: ContentHash): Promise<void> {
	const size = job.file.size;
	let offset = await sizeOf(incomplete);
	if (offset > size) {
		await truncate(incomplete, 0);
		offset = 0;
	}
	if (hash.bytes !== offset) {
		hash.reset();
		await hashFileInto(incomplete, hash, offset);
	}
	job.onBytes?.(offset);
	if (offset === size && size > 0) return;
	const request: HubRequestInit = { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, signal: context.signal, transfer: "download" };
	const response = await context.fetch(url, request);
	if (response.status === 416) {
		// The partial file does not fit the remote one: start over.
		await response.body?.cancel();
		await truncate(incomplete, 0);
		throw new ShortBody("the server refused to resume; starting over");
	}
	if (!response.ok) throw await responseError(response);
	if (offset > 0 && (response.status !== 206 || !response.headers.get("content-range")?.startsWith(`bytes ${offset}-`))) {
		offset = 0;
		hash.reset();
	}
	const handle = await open(incomplete, offset > 0 ? "a" : "w");
	try {
		if (response.body) {
			for await (const chunk of bodyChunks(response.body, context.signal)) {
				if (offset + chunk.byteLength > size) throw new HubError(`${job.repo}: ${job.file.path}: the server sent more than the ${size} bytes the repo lists`);
				hash.update(chunk);
				await handle.write(chunk);
				offset += chunk.byteLength;
				job.onBytes?.(offset);
			}
		}
		await handle.datasync();
	} finally {
		await handle.close();
	}
	if (offset < size) throw new ShortBody(`the connection closed after ${offset} of ${size} bytes`);
}

async function describeFailure(
	context: HubContext,
	error: unknown,
	subject: { repo: string; revision: string; file: string; access: "read" },
	incomplete: string,
	job: BlobDownload,
	/** Attempts made, when the failure is one a later run can resume from (0: not). */
	attempts: number,
): Promise<unknown> {
	const code = (error as NodeJS.ErrnoException).code;
	if (code && ["ENOSPC", "EACCES", "EROFS", "EDQUOT", "EPERM"].includes(code)) {
		return new HubError(`cannot write ${incomplete} in the Hugging Face cache (${code})`, {
			file: incomplete,
			hint: "free some space or point HF_HUB_CACHE / HF_HOME at a writable disk with room",
		});
	}
	const explained = error instanceof ShortBody ? new HubError(`${job.repo}: ${job.file.path}: ${error.message}`) : context.explain(error, subject);
	const kept = await sizeOf(incomplete);
	if (attempts === 0 || kept === 0 || !(explained instanceof HubError)) return explained;
	return new HubError(`${explained.message} (after ${attempts} attempt${attempts > 1 ? "s" : ""})`, {
		file: incomplete,
		status: explained.status,
		hint: `${kept} of ${job.file.size} bytes are kept; run again to resume from there${explained.hint ? `. ${explained.hint}` : ""}`,
	});
}

async function sizeOf(path: string): Promise<number> {
	try {
		return (await stat(path)).size;
	} catch {
		return 0;
	}
}
