/**
 * The repos of the test hub (tests/hub/hub-server.ts), in memory: commits as whole trees, branches and
 * tags, LFS objects by sha256, with the hashes the real Hub reports (git blob sha1, LFS sha256). A
 * benchmark's objects, too large for memory, can be files on disk instead (DiskObject).
 */
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** An LFS object kept in a file rather than in memory (a benchmark's gigabytes of inputs and uploads). */
export interface DiskObject {
	path: string;
	size: number;
}

export type LfsObject = Buffer | DiskObject;

export function objectSize(object: LfsObject): number {
	return Buffer.isBuffer(object) ? object.length : object.size;
}

export interface StoredFile {
	/** The content; empty when the file is on disk (`onDisk`). */
	data: Buffer;
	onDisk?: DiskObject;
	size: number;
	lfs: boolean;
	/** sha256 of the content. */
	sha256: string;
	/** git's blob sha1: of the content, or of the LFS pointer for LFS files. */
	oid: string;
}

export interface StoredRepo {
	id: string;
	private: boolean;
	gated: false | "auto" | "manual";
	/** Users allowed through the gate. */
	granted: Set<string>;
	/** Branches and tags -> commit. */
	refs: Map<string, string>;
	/** LFS objects uploaded to this repo (the Hub's LFS storage is per repo). */
	lfs: Set<string>;
	commits: Map<string, Map<string, StoredFile>>;
}

/** Files the real Hub's default .gitattributes stores in LFS. */
const LFS_NAMES = /\.(safetensors|bin|pt|pth|gguf|ckpt|h5|msgpack|onnx|model)$/;
export const LFS_THRESHOLD = 10 * 1024 * 1024;

export function isLfsPath(path: string, size: number): boolean {
	return LFS_NAMES.test(path) || size >= LFS_THRESHOLD;
}

export function gitBlobSha1(data: Buffer | string): string {
	const bytes = Buffer.from(data);
	return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

export function sha256(data: Buffer): string {
	return createHash("sha256").update(data).digest("hex");
}

export function storedFile(path: string, content: Buffer | string, lfs = isLfsPath(path, Buffer.byteLength(content))): StoredFile {
	const data = Buffer.from(content);
	const hash = sha256(data);
	const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${hash}\nsize ${data.length}\n`;
	return { data, size: data.length, lfs, sha256: hash, oid: gitBlobSha1(lfs ? pointer : data) };
}

/** An LFS file whose content is the file `object.path` (sha256 known, computed by whoever wrote it). */
export function diskFile(object: DiskObject, sha256: string): StoredFile {
	const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${object.size}\n`;
	return { data: Buffer.alloc(0), onDisk: object, size: object.size, lfs: true, sha256, oid: gitBlobSha1(pointer) };
}

export class HubStore {
	readonly repos = new Map<string, StoredRepo>();
	/** LFS storage (bytes by sha256), as the upload endpoint fills it; which repo has which: StoredRepo.lfs. */
	readonly lfsObjects = new Map<string, LfsObject>();

	createRepo(id: string, options: { private?: boolean; gated?: false | "auto" | "manual"; granted?: string[] } = {}): StoredRepo {
		const repo: StoredRepo = {
			id,
			private: options.private ?? false,
			gated: options.gated ?? false,
			granted: new Set(options.granted ?? []),
			refs: new Map(),
			commits: new Map(),
			lfs: new Set(),
		};
		this.repos.set(id, repo);
		// Like the Hub: a new repo starts with one commit holding .gitattributes.
		this.commit(id, { ".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n" });
		return repo;
	}

	/** A new commit on a branch: the branch's tree plus these files (null deletes). Returns its sha. */
	commit(id: string, files: Record<string, Buffer | string | StoredFile | null>, branch = "main", parent?: string): string {
		const repo = this.mustGet(id);
		const head = parent ?? repo.refs.get(branch);
		const tree = new Map(head ? repo.commits.get(head) : []);
		for (const [path, content] of Object.entries(files)) {
			if (content === null) tree.delete(path);
			else tree.set(path, Buffer.isBuffer(content) || typeof content === "string" ? storedFile(path, content) : content);
		}
		for (const file of tree.values()) {
			if (!file.lfs) continue;
			this.lfsObjects.set(file.sha256, file.onDisk ?? file.data);
			repo.lfs.add(file.sha256);
		}
		const sha = randomBytes(20).toString("hex");
		repo.commits.set(sha, tree);
		repo.refs.set(branch, sha);
		return sha;
	}

	/** Commits every file of a folder (top level, plus `extra`) to a branch. */
	async commitFolder(id: string, dir: string, options: { branch?: string; extra?: Record<string, Buffer | string> } = {}): Promise<string> {
		const files: Record<string, Buffer> = {};
		for (const name of await readdir(dir)) files[name] = await readFile(join(dir, name));
		return this.commit(id, { ...files, ...options.extra }, options.branch);
	}

	/** The commit a branch, tag or full sha names. */
	resolve(repo: StoredRepo, revision: string): string | undefined {
		if (repo.commits.has(revision)) return revision;
		return repo.refs.get(revision);
	}

	tree(id: string, revision = "main"): Map<string, StoredFile> {
		const repo = this.mustGet(id);
		const sha = this.resolve(repo, revision);
		if (!sha) throw new Error(`${id}: no revision ${revision}`);
		return repo.commits.get(sha) as Map<string, StoredFile>;
	}

	mustGet(id: string): StoredRepo {
		const repo = this.repos.get(id);
		if (!repo) throw new Error(`test hub: no repo ${id}`);
		return repo;
	}
}
