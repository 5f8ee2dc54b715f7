import { copyFile, mkdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { repoCacheFolderName } from "./cache-paths.js";
import { HubError } from "./hub-error.js";
import { quoteServerValue } from "./redact-token.js";

const COMMIT_SHA = /^[0-9a-f]{40}$/;
const ETAG = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function isCommitSha(revision: string): boolean {
	return COMMIT_SHA.test(revision);
}

/**
 * One repo in the Hugging Face cache, laid out as huggingface_hub does so both tools share it:
 * `models--org--name/blobs/{etag}` (sha256 for LFS files, git sha1 otherwise), `snapshots/{commit}/{path}`
 * as relative symlinks to the blobs, `refs/{branch or tag}` holding the commit sha.
 */
export class RepoCache {
	readonly dir: string;

	constructor(
		cacheDir: string,
		readonly repo: string,
		/** Removed from messages that quote what the Hub sent. */
		private readonly token?: string,
	) {
		this.dir = join(cacheDir, repoCacheFolderName(repo));
	}

	blob(etag: string): string {
		if (!ETAG.test(etag)) throw new HubError(`${this.repo}: the Hub gave an unexpected file id ${quoteServerValue(etag, this.token)}`);
		return join(this.dir, "blobs", etag);
	}

	/**
	 * `.locks/models--org--name/{etag}.moe-merge.lock`: huggingface_hub flocks `{etag}.lock` in the same
	 * folder; Node cannot flock, so ours has its own name and never disturbs Python's.
	 */
	blobLock(etag: string): string {
		return join(dirname(this.dir), ".locks", basename(this.dir), `${basename(this.blob(etag))}.moe-merge.lock`);
	}

	snapshot(commit: string): string {
		if (!isCommitSha(commit)) throw new HubError(`${this.repo}: the Hub gave an unexpected commit id ${quoteServerValue(commit, this.token)}`);
		return join(this.dir, "snapshots", commit);
	}

	/** Only top-level names are ever fetched, so a path from the Hub cannot climb out of the snapshot. */
	snapshotFile(commit: string, path: string): string {
		// eslint-disable-next-line no-control-regex
		if (path.includes("/") || path.includes("\\") || path === "." || path === ".." || /[\u0000-\u001f\u007f]/.test(path)) {
			throw new HubError(`${this.repo}: refusing the file name ${quoteServerValue(path, this.token)} given by the Hub`);
		}
		return join(this.snapshot(commit), path);
	}

	ref(revision: string): string {
		const parts = revision.split("/");
		if (parts.some((p) => p === "" || p === "." || p === "..")) throw new HubError(`${this.repo}: invalid revision ${JSON.stringify(revision)}`);
		return join(this.dir, "refs", ...parts);
	}

	/**
	 * The snapshot of `revision` already in the cache, or undefined: a full commit sha names a snapshot
	 * folder, a branch or tag is looked up in `refs/`. Whether its files are complete is not checked here.
	 */
	async cachedSnapshot(revision: string): Promise<{ dir: string; commit: string } | undefined> {
		const commit = isCommitSha(revision) ? revision : (await readFile(this.ref(revision), "utf8").catch(() => "")).trim();
		if (!isCommitSha(commit)) return undefined;
		const dir = this.snapshot(commit);
		const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
		return isDir ? { dir, commit } : undefined;
	}

	/** Records which commit a branch or tag pointed to (huggingface_hub writes the sha without a newline). */
	async writeRef(revision: string, commit: string): Promise<void> {
		const file = this.ref(revision);
		const old = await readFile(file, "utf8").catch(() => undefined);
		if (old?.trim() === commit) return;
		await mkdir(dirname(file), { recursive: true });
		const temp = `${file}.${process.pid}.tmp`;
		await writeFile(temp, commit);
		await rename(temp, file);
	}
}

/**
 * Points `snapshots/{commit}/{path}` at its blob with a relative symlink (the cache folder stays valid when
 * moved), replacing whatever was there; copies the blob where symlinks are not allowed, as huggingface_hub does.
 */
export async function linkSnapshotFile(blob: string, pointer: string): Promise<void> {
	await mkdir(dirname(pointer), { recursive: true });
	const temp = `${pointer}.${process.pid}.tmp`;
	await rm(temp, { force: true });
	try {
		await symlink(relative(dirname(pointer), blob), temp);
	} catch {
		await copyFile(blob, temp);
	}
	await rename(temp, pointer);
}
