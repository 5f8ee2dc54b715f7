import { fileDownloadInfo } from "@huggingface/hub";
import { SafetensorsError } from "../errors.js";
import { HEADER_LENGTH_BYTES, SafetensorsFile, type WeightSource, parseHeaderLength, parseSafetensorsHeader } from "../safetensors/index.js";
import type { HubFailureSubject } from "./explain-hub-failure.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { responseError } from "./http-error.js";
import type { RepoFile } from "./snapshot-files.js";
import { bodyChunks } from "./read-body.js";
import type { HubRequestInit } from "./hub-fetch.js";
import { redactError } from "./redact-token.js";
import { join } from "node:path";
import { type HeldBudget, type RangeCheck, RangeReader } from "./range-reader.js";

/**
 * The safetensors files of a Hub repo at one commit, known by their headers only: two range requests
 * per file (the 8-byte length, then the header JSON), never the weights. What `plan` needs to lay out
 * the output of a Hub recipe without downloading it.
 */
export function remoteWeightFiles(context: HubContext, repo: string, commit: string, listing: readonly RepoFile[]): WeightSource {
	const byPath = new Map(listing.map((f) => [f.path, f]));
	return {
		isFile: async (name) => byPath.has(name),
		list: async () => listing.filter((f) => !f.path.includes("/")).map((f) => f.path).sort(),
		open: async (name) => {
			const file = byPath.get(name);
			if (!file) throw new HubError(`${repo}@${commit}: ${name} is not in the repo`);
			return readRemoteHeader(context, repo, commit, file).catch((error) => {
				throw redactError(error, context.token);
			});
		},
	};
}

async function readRemoteHeader(context: HubContext, repo: string, commit: string, file: RepoFile): Promise<SafetensorsFile> {
	const label = `${repo}@${commit}/${file.path}`;
	let url: string;
	try {
		const info = await fileDownloadInfo({ repo, path: file.path, revision: commit, hubUrl: context.hubUrl, fetch: context.fetch });
		if (!info) throw new HubError(`${label}: listed in the repo but the Hub cannot serve it (entry not found)`);
		url = info.url;
	} catch (error) {
		if (error instanceof HubError) throw error;
		throw context.explain(error, { repo, revision: commit, file: file.path, access: "read" });
	}
	const subject = { repo, revision: commit, file: file.path, access: "read" as const };
	const prefix = await readRange(context, url, 0, Math.min(HEADER_LENGTH_BYTES, file.size), label, subject);
	// Checked against the listed size before anything of that length is fetched or allocated.
	const length = parseHeaderLength(prefix, file.size, label);
	const json = await readRange(context, url, HEADER_LENGTH_BYTES, length, label, subject);
	return SafetensorsFile.fromHeader(label, file.size, parseSafetensorsHeader(json, file.size, label));
}

/** `length` bytes at `start`; the body is cancelled after them (bodyChunks), so a server ignoring Range costs about a chunk more. */
async function readRange(context: HubContext, url: string, start: number, length: number, label: string, subject: HubFailureSubject): Promise<Uint8Array> {
	let response: Response;
	try {
		const request: HubRequestInit = { headers: { range: `bytes=${start}-${start + length - 1}` }, signal: context.signal, transfer: "download" };
		response = await context.fetch(url, request);
	} catch (error) {
		throw context.explain(error, subject);
	}
	if (!response.ok) throw context.explain(await responseError(response), subject);
	// 200 instead of 206: the whole file comes; skip to `start`.
	let skip = response.status === 206 ? 0 : start;
	const out = new Uint8Array(length);
	let got = 0;
	if (response.body) {
		for await (const chunk of bodyChunks(response.body, context.signal)) {
			const part = chunk.subarray(Math.min(skip, chunk.length));
			skip -= chunk.length - part.length;
			const take = part.subarray(0, length - got);
			out.set(take, got);
			got += take.length;
			if (got === length) break;
		}
	}
	if (got < length) throw new SafetensorsError(`${label}: truncated: the Hub sent ${got} of the ${length} header bytes at ${start}`, { file: label });
	return out;
}

/** A weight file read with range requests, as the lock records it. */
export interface RangeReadFile {
	name: string;
	size: number;
	/** The Hub's LFS sha256. */
	sha256: string;
	/** How the content was checked (known once the merge has read it). */
	check(): RangeCheck;
	/** Bytes that came over the network for it. */
	transferred(): number;
}

/** The range-read weight files of a model (a WeightSource whose files can be read), for the lock and the transfer figures. */
export interface RangeWeightSource extends WeightSource {
	readonly rangeFiles: ReadonlyMap<string, RangeReadFile>;
	/** The range reader behind an opened file (undefined for a local one): planned reads are fetched ahead through it. */
	readerOf(file: unknown): RangeReader | undefined;
}

/**
 * The LFS weight files of a Hub repo at one commit, opened for reading with range requests
 * (range-reader.ts): the header first, then tensor bytes as the merge asks, never stored on disk.
 * The rest of the snapshot (config, index, tokenizer, small files) is in the cache, in `dir`.
 */
export function rangeWeightFiles(context: HubContext, repo: string, commit: string, listing: readonly RepoFile[], dir: string, held: HeldBudget): RangeWeightSource {
	const byPath = new Map(listing.map((f) => [f.path, f]));
	const rangeFiles = new Map<string, RangeReadFile>();
	const readers = new Map<unknown, RangeReader>();
	return {
		rangeFiles,
		readerOf: (file) => readers.get(file),
		isFile: async (name) => byPath.has(name),
		list: async () => listing.filter((f) => !f.path.includes("/")).map((f) => f.path).sort(),
		open: async (name) => {
			const file = byPath.get(name);
			if (!file) throw new HubError(`${repo}@${commit}: ${name} is not in the repo`);
			// Small weights kept in git (no LFS sha256) were downloaded with the snapshot.
			if (!file.sha256) return SafetensorsFile.open(join(dir, name));
			const label = `${repo}@${commit}/${file.path}`;
			const url = `${context.hubUrl}/${repo}/resolve/${commit}/${encodeURIComponent(file.path)}`;
			const reader = new RangeReader(context, { url, size: file.size, sha256: file.sha256, label, held });
			try {
				const prefix = new Uint8Array(Math.min(HEADER_LENGTH_BYTES, file.size));
				await reader.read(prefix, 0);
				const length = parseHeaderLength(prefix, file.size, label);
				const json = new Uint8Array(length);
				await reader.read(json, HEADER_LENGTH_BYTES);
				const opened = SafetensorsFile.fromHeader(label, file.size, parseSafetensorsHeader(json, file.size, label), reader);
				// No connection waits while the other files open: the first tensor read continues from the header's end.
				await reader.close();
				rangeFiles.set(name, { name, size: file.size, sha256: file.sha256, check: () => reader.check, transferred: () => reader.transferred });
				readers.set(opened, reader);
				return opened;
			} catch (error) {
				await reader.close();
				throw redactError(error, context.token);
			}
		},
	};
}
