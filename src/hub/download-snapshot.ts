import { stat } from "node:fs/promises";
import { JSON_LIMITS, readTextCapped } from "../util/read-json-capped.js";
import { InvalidApiResponseFormatError, listFiles, modelInfo } from "@huggingface/hub";
import { networkErrorCode } from "./explain-hub-failure.js";
import { INDEX_FILE_NAME, type WeightSource } from "../safetensors/index.js";
import { downloadBlob } from "./download-blob.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { type RepoFile, indexedShards, selectAdapterFiles, selectSnapshotFiles } from "./snapshot-files.js";
import { RepoCache, isCommitSha, linkSnapshotFile } from "./repo-cache.js";
import { runPool } from "../util/run-pool.js";
import { withBlobLock } from "./blob-lock.js";
import { rangeWeightFiles, remoteWeightFiles } from "./remote-weight-files.js";
import { HeldBudget } from "./range-reader.js";
import { listedFile } from "./listed-file.js";
import { quoteServerValue } from "./redact-token.js";

/** How much of a snapshot to bring: everything (a merge), config only (`validate`), or config, index and remote headers (`plan`). */
export interface SnapshotMode {
	configOnly?: boolean;
	headersOnly?: boolean;
	/** A merge streamed from the Hub (`--no-local-copy`): side files into the cache, LFS weights read with range requests as the merge goes. */
	rangeWeights?: boolean;
	/** A peft LoRA adapter repo: adapter_config.json and adapter_model.safetensors only. */
	adapter?: boolean;
}

/** A model repo at one commit, present in the local cache with every file a merge needs. */
export interface HubSnapshot {
	repo: string;
	/** The revision asked for (branch, tag or commit). */
	revision: string;
	commit: string;
	/** `snapshots/{commit}` in the cache. */
	dir: string;
	/** Bytes that came over the network in this call (0: all cached). */
	downloadedBytes: number;
	/** With `headersOnly`: the weight files, read with range requests (the snapshot holds config and index only). */
	weightFiles?: WeightSource;
}

/** The commit a branch or tag points to now, from the Hub's model info. */
export async function resolveCommit(context: HubContext, repo: string, revision: string): Promise<string> {
	let sha: string | undefined;
	try {
		sha = (await modelInfo({ name: repo, revision, additionalFields: ["sha"], hubUrl: context.hubUrl, fetch: context.fetch })).sha;
	} catch (error) {
		throw context.explain(malformedAnswer(error), { repo, revision, access: "read" });
	}
	if (typeof sha !== "string" || !isCommitSha(sha)) {
		throw new HubError(`${repo}@${revision}: the Hub did not say which commit this revision is (got ${quoteServerValue(sha, context.token)})`, {
			hint: "the server is not behaving like the Hugging Face Hub: check HF_ENDPOINT",
		});
	}
	return sha;
}

/**
 * Brings the files a merge needs from `repo` at `commit` into the cache (see snapshot-files.ts), reusing
 * what is there, and records `refs/{revision}` when the revision is a branch or tag.
 */
export async function downloadSnapshot(context: HubContext, repo: string, revision: string, commit: string, mode: SnapshotMode = {}): Promise<HubSnapshot> {
	const cache = new RepoCache(context.cacheDir, repo, context.token);
	const label = `${repo}@${revision}`;
	const listing = await listRepoFiles(context, repo, commit, revision);
	const adapterFiles = mode.adapter ? selectAdapterFiles(listing, label) : undefined;
	const selection = adapterFiles ? { side: [], weights: adapterFiles } : selectSnapshotFiles(listing, label);
	let downloadedBytes = 0;
	const fetchFiles = async (files: RepoFile[], report: boolean) => {
		const missing: RepoFile[] = [];
		for (const file of files) if (!(await reuseCached(cache, commit, file))) missing.push(file);
		// Two names with the same content share one blob: fetch it once.
		const byEtag = new Map<string, RepoFile[]>();
		for (const file of missing) byEtag.set(file.etag, [...(byEtag.get(file.etag) ?? []), file]);
		const bytesTotal = [...byEtag.values()].reduce((sum, [f]) => sum + f.size, 0);
		const onDisk = new Map<string, number>();
		let filesDone = 0;
		const progress = (file?: string) =>
			report &&
			context.onProgress?.({
				direction: "download",
				phase: "download",
				repo,
				file,
				bytesDone: [...onDisk.values()].reduce((a, b) => a + b, 0),
				bytesTotal,
				filesDone,
				filesTotal: byEtag.size,
			});
		if (byEtag.size > 0) progress();
		// One failed file stops the others (their partial files stay, to be resumed).
		const stop = linkedAbort(context.signal);
		const local = { ...context, signal: stop.signal };
		await runPool([...byEtag.values()], context.concurrency, async ([first, ...same]) => {
			const blob = cache.blob(first.etag);
			let before: number | undefined;
			// Another process may be fetching the same blob: wait for it, then reuse its result.
			await withBlobLock(cache.blobLock(first.etag), async () => {
				if ((await sizeOf(blob)) === first.size) return;
				await downloadBlob(local, {
					repo,
					revision,
					commit,
					file: first,
					blob,
					onBytes: (bytes) => {
						before ??= bytes;
						onDisk.set(first.etag, bytes);
						progress(first.path);
					},
				});
				downloadedBytes += first.size - (before ?? 0);
			}, { signal: local.signal, onWait: (holder) => context.onWarning(`waiting for process ${holder}, which is downloading ${repo}/${first.path} into the same cache`) });
			for (const file of [first, ...same]) await linkSnapshotFile(blob, cache.snapshotFile(commit, file.path));
			filesDone++;
			progress(first.path);
		}, { onFailure: () => stop.abort() }).finally(() => stop.dispose());
	};
	if (mode.configOnly) {
		// The listing above already checked that safetensors weights exist; fetch nothing else.
		await fetchFiles(selection.side.filter((f) => f.path === "config.json"), false);
		return { repo, revision, commit, dir: cache.snapshot(commit), downloadedBytes };
	}
	if (mode.headersOnly) {
		// `plan`: config and index into the cache; the shards' headers are read remotely when opened.
		await fetchFiles([...selection.side.filter((f) => f.path === "config.json"), ...(selection.index ? [selection.index] : [])], false);
		return { repo, revision, commit, dir: cache.snapshot(commit), downloadedBytes, weightFiles: remoteWeightFiles(context, repo, commit, listing) };
	}
	// The index comes first: it says which shards to fetch.
	if (selection.index) await fetchFiles([selection.index], false);
	const weights = selection.index
		? indexedShards(await readTextCapped(cache.snapshotFile(commit, INDEX_FILE_NAME), JSON_LIMITS.weightIndex, `${label}: ${INDEX_FILE_NAME}`, { error: HubError }), listing, label, context.token)
		: selection.weights;
	if (mode.rangeWeights) {
		// Weights small enough to live in git (no LFS sha256) are downloaded; the others are read as the merge goes.
		await fetchFiles([...selection.side, ...weights.filter((f) => !f.sha256)], false);
		if (revision !== commit) await cache.writeRef(revision, commit);
		const dir = cache.snapshot(commit);
		return { repo, revision, commit, dir, downloadedBytes, weightFiles: rangeWeightFiles(context, repo, commit, listing, dir, heldBudget(context)) };
	}
	await fetchFiles([...selection.side, ...weights], true);
	if (revision !== commit) await cache.writeRef(revision, commit);
	return { repo, revision, commit, dir: cache.snapshot(commit), downloadedBytes };
}

/** Memory for bytes read ahead by the range readers of one run (all its models share it). */
const HELD = new WeakMap<HubContext, HeldBudget>();
const HELD_BYTES = 512 << 20;

function heldBudget(context: HubContext): HeldBudget {
	let budget = HELD.get(context);
	if (!budget) HELD.set(context, (budget = new HeldBudget(HELD_BYTES)));
	return budget;
}

/** The repo's top-level files at the commit, from the Hub's tree listing (sizes and hashes included). */
async function listRepoFiles(context: HubContext, repo: string, commit: string, revision: string): Promise<RepoFile[]> {
	const files: RepoFile[] = [];
	try {
		for await (const entry of listFiles({ repo, revision: commit, hubUrl: context.hubUrl, fetch: context.fetch })) {
			if (entry.type === "file") files.push(listedFile(entry, `${repo}@${revision}`, context.token));
		}
	} catch (error) {
		throw context.explain(malformedAnswer(error), { repo, revision, access: "read" });
	}
	return files;
}

/**
 * The library reads the Hub's JSON without checking its shape: `null` for a model info or an object for
 * a listing page ends in a TypeError inside it. That is the server's fault, said as such (a network
 * failure, also a TypeError, keeps its own explanation).
 */
function malformedAnswer(error: unknown): unknown {
	if (!(error instanceof TypeError) || networkErrorCode(error) !== undefined) return error;
	return new InvalidApiResponseFormatError(`its JSON is not in the expected form (${error.message})`);
}

/** True when the file is already in the snapshot, or its blob is cached and only needs linking. */
async function reuseCached(cache: RepoCache, commit: string, file: RepoFile): Promise<boolean> {
	const pointer = cache.snapshotFile(commit, file.path);
	if ((await sizeOf(pointer)) === file.size) return true;
	const blob = cache.blob(file.etag);
	if ((await sizeOf(blob)) !== file.size) return false;
	await linkSnapshotFile(blob, pointer);
	return true;
}

async function sizeOf(path: string): Promise<number | undefined> {
	try {
		return (await stat(path)).size;
	} catch {
		return undefined;
	}
}

/** An AbortController that also aborts when `parent` does (AbortSignal.any needs Node 20.3). */
function linkedAbort(parent: AbortSignal | undefined): AbortController & { dispose(): void } {
	const controller = new AbortController();
	const follow = () => controller.abort(parent?.reason);
	if (parent?.aborted) follow();
	else parent?.addEventListener("abort", follow, { once: true });
	return Object.assign(controller, { dispose: () => parent?.removeEventListener("abort", follow) });
}
