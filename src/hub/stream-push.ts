import { open } from "node:fs/promises";
import { commitIter } from "@huggingface/hub";
import { sha256Hex } from "../util/sha256.js";
import { VERSION } from "../version.js";
import { isTransientHubFailure } from "./explain-hub-failure.js";
import { FdBlob } from "./fd-blob.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { responseError } from "./http-error.js";
import { ensureBranch, ensureRepo } from "./push-to-hub.js";
import { redactError } from "./redact-token.js";
import { waitToRetry } from "./wait-to-retry.js";

/** A large file already in the repo's LFS storage (uploaded by `uploadLargeFile`), named by the final commit. */
export interface UploadedFile {
	name: string;
	size: number;
	sha256: string;
}

/** A small file of the final commit, in memory. */
export interface SmallFile {
	name: string;
	content: Uint8Array;
}

/**
 * A push done piece by piece, for a merge streamed to the Hub: each large file is uploaded to the repo's
 * LFS storage as soon as it exists (@huggingface/hub's commit protocol, stopped before its commit:
 * preupload, sha256, LFS batch, upload, which is what huggingface_hub's `preupload_lfs_files` does),
 * then one commit names them all with the small files, so the repo never shows half a model. The Hub
 * keeps uploaded objects for a later commit; the commit is refused if one is missing.
 */
export class StreamPush {
	private constructor(
		private readonly context: HubContext,
		readonly repo: string,
		readonly branch: string,
		readonly createdRepo: boolean,
	) {}

	/** Creates the repo (and branch) when missing; `repo` is the full id preparePush gave. */
	static async start(context: HubContext, repo: string, options: { branch?: string; private?: boolean } = {}): Promise<StreamPush> {
		const branch = options.branch ?? "main";
		const created = await ensureRepo(context, repo, options.private === true).catch((error) => Promise.reject(redactError(error, context.token)));
		if (branch !== "main") await ensureBranch(context, repo, branch);
		return new StreamPush(context, repo, branch, created);
	}

	/**
	 * Uploads the file at `path` to the repo's LFS storage under `name`, without a commit; retried like a
	 * push (an object the Hub already has is not sent again). `sha256` is what the writer hashed: the
	 * library hashes the file again before it uploads, and the two must agree.
	 */
	async uploadLargeFile(path: string, file: UploadedFile, onProgress?: (fraction: number) => void): Promise<void> {
		await this.retried(`uploading ${file.name}`, async () => {
			const handle = await open(path, "r");
			try {
				const size = (await handle.stat()).size;
				if (size !== file.size) throw new HubError(`${path} is ${size} bytes, ${file.size} were written`);
				const lfs = await this.uploadWithoutCommit([{ name: file.name, content: new FdBlob(handle, 0, size, path) }], onProgress);
				if (!lfs.has(file.name)) throw new HubError(`${this.repo}: the Hub does not store ${file.name} in LFS; it cannot be uploaded before the commit`, { hint: "check the repo's .gitattributes: *.safetensors must be an LFS pattern" });
			} finally {
				await handle.close();
			}
		});
	}

	/** True when the repo's LFS storage already holds this object (the LFS batch API offers no upload for it). */
	async has(file: UploadedFile): Promise<boolean> {
		return this.retried(`asking the Hub for ${file.name}`, async () => {
			const response = await this.context.fetch(`${this.context.hubUrl}/${this.repo}.git/info/lfs/objects/batch`, {
				method: "POST",
				headers: { accept: "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json" },
				body: JSON.stringify({ operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha_256", ref: { name: this.branch }, objects: [{ oid: file.sha256, size: file.size }] }),
				signal: this.context.signal,
			});
			if (!response.ok) throw await responseError(response);
			const answer = (await response.json()) as { objects?: { oid?: string; actions?: { upload?: unknown }; error?: unknown }[] };
			const object = answer.objects?.find((o) => o.oid === file.sha256);
			return object !== undefined && !object.error && !object.actions?.upload;
		});
	}

	/**
	 * The one commit: the small files (those the Hub wants in LFS uploaded first) and the large files
	 * uploaded before, by their sha256. Returns the commit's oid.
	 */
	async commit(small: SmallFile[], large: UploadedFile[], title: string): Promise<string> {
		const lfsSmall = await this.retried("uploading the small files", () => this.uploadWithoutCommit(small.map((f) => ({ name: f.name, content: new Blob([f.content]) }))));
		const lines = [
			{ key: "header", value: { summary: title, description: `Merged and streamed to the Hub by moe-merge ${VERSION}` } },
			...small.map((f) =>
				lfsSmall.has(f.name)
					? { key: "lfsFile", value: { path: f.name, algo: "sha256", size: f.content.length, oid: sha256Hex(f.content) } }
					: { key: "file", value: { path: f.name, content: Buffer.from(f.content).toString("base64"), encoding: "base64" } },
			),
			...large.map((f) => ({ key: "lfsFile", value: { path: f.name, algo: "sha256", size: f.size, oid: f.sha256 } })),
		];
		const body = lines.map((l) => JSON.stringify(l)).join("\n");
		return this.retried("committing", async () => {
			const response = await this.context.fetch(`${this.context.hubUrl}/api/models/${this.repo}/commit/${encodeURIComponent(this.branch)}`, {
				method: "POST",
				headers: { "content-type": "application/x-ndjson" },
				body,
				signal: this.context.signal,
			});
			if (!response.ok) throw await responseError(response);
			const answer = (await response.json()) as { commitOid?: unknown };
			if (typeof answer.commitOid !== "string") throw new HubError(`${this.repo}: the Hub did not confirm the commit`);
			return answer.commitOid;
		});
	}

	/** The library's commit protocol up to its commit, which is not sent; returns the names it stored in LFS. */
	private async uploadWithoutCommit(files: { name: string; content: Blob }[], onProgress?: (fraction: number) => void): Promise<Set<string>> {
		const lfs = new Set<string>();
		if (files.length === 0) return lfs;
		const iterator = commitIter({
			repo: { type: "model", name: this.repo },
			operations: files.map((f) => ({ operation: "addOrUpdate" as const, path: f.name, content: f.content })),
			title: "(not committed)",
			branch: this.branch,
			hubUrl: this.context.hubUrl,
			fetch: this.context.fetch,
			abortSignal: this.context.signal,
		});
		try {
			for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
				const event = step.value;
				if (event.event === "phase") {
					// Every large file is stored by now: stop before the library commits.
					if (event.phase === "committing") return lfs;
					continue;
				}
				if (event.state === "error") throw new HubError(`${this.repo}: uploading ${event.path} failed`);
				// Only files the Hub wants in LFS are hashed and uploaded before the commit.
				lfs.add(event.path);
				if (event.state === "uploading") onProgress?.(event.progress);
			}
			throw new HubError(`${this.repo}: the upload ended without reaching its commit`);
		} finally {
			await iterator.return(undefined as never).catch(() => {});
		}
	}

	/** Runs `step`, again after a transient failure (a dropped connection, a 5xx), as a push does. */
	private async retried<T>(what: string, step: () => Promise<T>): Promise<T> {
		for (let attempt = 0; ; attempt++) {
			try {
				return await step();
			} catch (error) {
				if (this.context.signal?.aborted) throw this.context.signal.reason ?? error;
				const explained = this.context.explain(error, { repo: this.repo, revision: this.branch, access: "write" });
				const transient = isTransientHubFailure(error) && attempt < this.context.retries;
				if (transient) this.context.onWarning(`${what} to ${this.repo} interrupted (${explained instanceof Error ? explained.message : "connection lost"}); retrying`);
				if (await waitToRetry(this.context, error, attempt, transient)) continue;
				throw redactError(explained, this.context.token);
			}
		}
	}
}
