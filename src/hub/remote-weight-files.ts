import { fileDownloadInfo } from "@huggingface/hub";
import { SafetensorsError } from "../errors.js";
import { HEADER_LENGTH_BYTES, SafetensorsFile, type WeightSource, parseHeaderLength, parseSafetensorsHeader } from "../safetensors/index.js";
import type { HubFailureSubject } from "./explain-hub-failure.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { responseError } from "./http-error.js";
import type { RepoFile } from "./snapshot-files.js";
import { bodyChunks } from "./read-body.js";

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
			return readRemoteHeader(context, repo, commit, file);
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
		response = await context.fetch(url, { headers: { range: `bytes=${start}-${start + length - 1}` }, signal: context.signal });
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
