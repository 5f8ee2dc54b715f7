import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { MERGE_SIDE_FILES } from "../checkpoint/side-files.js";
import { INDEX_FILE_NAME } from "../safetensors/index.js";
import { sha256Files } from "./hash-files.js";
import { InputHashCache } from "./input-hash-cache.js";
import type { LockedFile, LockedSource } from "./merge-lock.js";

const SHA256 = /^[0-9a-f]{64}$/;

/** One distinct input model, as the lock needs to know it. */
export interface LockModel {
	/** The reference as the recipe writes it (no absolute path: the lock is shared and pushed). */
	ref: string;
	/** Hub models: `org/name` and the revision asked for. */
	hub?: { repo: string; revision: string };
	/** The Hub commit the snapshot belongs to. */
	commit?: string;
	dir: string;
	/** Names (inside `dir`) of the weight files the merge reads. */
	weightFiles: readonly string[];
	/** Also the generation config and tokenizer files (the base model's, when they are copied). */
	sideFiles: boolean;
	/** Exactly these files instead of config, index, weights and side files (a LoRA adapter's). */
	files?: readonly string[];
	/** Weight files read from the Hub with range requests (not in `dir`): their size and the Hub's LFS sha256. */
	rangeFiles?: ReadonlyMap<string, { size: number; sha256: string }>;
}

/** A role in the merge (`base`, `expert 0`, `shared expert 0`) and the index of its model. */
export interface LockRole {
	role: string;
	model: number;
}

/**
 * Every role with the files of its model that the merge reads (config, index, weights; side files when
 * asked) and their sha256. A Hub file stored under its sha256 (LFS, checked
 * when downloaded) is not read again: its blob name is the hash. Local files are hashed once, big files
 * on several cores (hash-files.ts), and remembered while unchanged (input-hash-cache.ts).
 */
export async function lockSources(models: readonly LockModel[], roles: readonly LockRole[], options: { signal?: AbortSignal } = {}): Promise<LockedSource[]> {
	const filesOf = new Map<number, LockedFile[]>();
	for (const { model } of roles) if (!filesOf.has(model)) filesOf.set(model, await inputFiles(models[model]));
	const hashes = new Map<string, string>();
	const toRead: string[] = [];
	for (const [model, files] of filesOf) {
		for (const file of files) {
			const path = join(models[model].dir, file.path);
			// One MoE can be several sources (the base, and each expert taken from it): its files are hashed once.
			if (hashes.has(path) || toRead.includes(path)) continue;
			const remote = models[model].rangeFiles?.get(file.path);
			const named = remote ? remote.sha256 : await blobSha256(path);
			if (named) hashes.set(path, named);
			else toRead.push(path);
		}
	}
	// Local files hashed by an earlier merge and unchanged since are not read again.
	const cache = await InputHashCache.open();
	const misses: string[] = [];
	for (const path of toRead) {
		const known = await cache.get(path);
		if (known) hashes.set(path, known);
		else misses.push(path);
	}
	for (const [path, hex] of await sha256Files(misses, { signal: options.signal })) {
		hashes.set(path, hex);
		await cache.set(path, hex);
	}
	if (misses.length > 0) await cache.save();
	return roles.map(({ role, model }) => {
		const m = models[model];
		const files = (filesOf.get(model) as LockedFile[]).map((f) => ({ ...f, sha256: hashes.get(join(m.dir, f.path)) as string }));
		const hub = m.hub ? { repo: m.hub.repo, revision: m.hub.revision, commit: m.commit } : {};
		return { role, ref: m.ref, kind: m.hub ? ("hub" as const) : ("local" as const), ...hub, files };
	});
}

/** The files of one model the merge uses, with sizes; sha256 filled in later. */
async function inputFiles(model: LockModel): Promise<LockedFile[]> {
	const files: LockedFile[] = [];
	for (const name of await inputFileNames(model)) files.push({ path: name, size: model.rangeFiles?.get(name)?.size ?? (await stat(join(model.dir, name))).size, sha256: "" });
	return files;
}

/** Names (inside the model's folder, sorted) of the files of one model the merge reads: config, index, weights, side files when asked. */
export async function inputFileNames(model: Pick<LockModel, "dir" | "weightFiles" | "sideFiles" | "files">): Promise<string[]> {
	if (model.files) return [...model.files].sort();
	const names = new Set(["config.json", ...model.weightFiles]);
	const listing = await readdir(model.dir);
	if (listing.includes(INDEX_FILE_NAME)) names.add(INDEX_FILE_NAME);
	if (model.sideFiles) for (const name of listing) if (MERGE_SIDE_FILES.has(name)) names.add(name);
	return [...names].sort();
}

/** A symlink into a Hub cache blob named by a sha256 (an LFS file) gives the hash without reading. */
async function blobSha256(path: string): Promise<string | undefined> {
	if (!(await lstat(path)).isSymbolicLink()) return undefined;
	const target = basename(await readlink(path));
	return SHA256.test(target) ? target : undefined;
}

/** Output files and their sha256 (the lock itself and hidden files excepted). */
export async function lockFolderFiles(dir: string, except: string, signal?: AbortSignal, known?: ReadonlyMap<string, string>): Promise<LockedFile[]> {
	const entries = await readdir(dir, { withFileTypes: true });
	const names = entries.filter((e) => e.isFile() && e.name !== except && !e.name.startsWith(".")).map((e) => e.name).sort();
	// Files whose hash is not known yet (the small side files; shards are hashed as they are written) are read back.
	const unknown = names.filter((n) => !known?.has(n));
	const hashes = await sha256Files(unknown.map((n) => join(dir, n)), { signal });
	const files: LockedFile[] = [];
	for (const path of names) {
		const sha256 = known?.get(path) ?? (hashes.get(join(dir, path)) as string);
		files.push({ path, size: (await stat(join(dir, path))).size, sha256 });
	}
	return files;
}
