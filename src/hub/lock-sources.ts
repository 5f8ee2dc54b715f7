import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { MergePlan } from "../merge/plan-merge.js";
import { DEFAULT_REVISION, modelKey } from "../recipe/index.js";
import { INDEX_FILE_NAME } from "../safetensors/index.js";
import { sha256Files } from "./hash-files.js";
import { InputHashCache } from "./input-hash-cache.js";
import type { LockedFile, LockedSource } from "./merge-lock.js";
import { MERGE_SIDE_FILES } from "./merge-files.js";

const SHA256 = /^[0-9a-f]{64}$/;

export interface LockSourcesOptions {
	/** The base model's tokenizer files are inputs only when they are copied. */
	copyTokenizer: boolean;
	signal?: AbortSignal;
}

/**
 * Every input model of a plan with the files the merge reads (config, index, shards; for the base also
 * generation config and tokenizer) and their sha256. A Hub file stored under its sha256 (LFS, checked
 * when downloaded) is not read again: its blob name is the hash. Local files are hashed once, big files
 * on several cores (hash-files.ts), and remembered while unchanged (input-hash-cache.ts).
 */
export async function lockSources(plan: MergePlan, options: LockSourcesOptions): Promise<LockedSource[]> {
	const roles: { role: string; model: number }[] = [
		{ role: "base", model: plan.base },
		...plan.experts.map((model, i) => ({ role: `expert ${i}`, model })),
		...plan.recipe.sharedExperts.map((s, i) => ({ role: `shared expert ${i}`, model: plan.models.findIndex((m) => modelKey(m.ref) === modelKey(s.source)) })),
	].filter((r) => r.model >= 0);
	const filesOf = new Map<number, LockedFile[]>();
	for (const { model } of roles) {
		if (!filesOf.has(model)) filesOf.set(model, await inputFiles(plan, model, model === plan.base && options.copyTokenizer));
	}
	const hashes = new Map<string, string>();
	const toRead: string[] = [];
	for (const [model, files] of filesOf) {
		for (const file of files) {
			const path = join(plan.models[model].dir, file.path);
			const named = await blobSha256(path);
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
		const m = plan.models[model];
		const files = (filesOf.get(model) as LockedFile[]).map((f) => ({ ...f, sha256: hashes.get(join(m.dir, f.path)) as string }));
		const hub = m.ref.kind === "hub" ? { repo: m.ref.repo, revision: m.ref.revision ?? DEFAULT_REVISION, commit: m.commit } : {};
		return { role, ref: m.label, kind: m.ref.kind === "hub" ? ("hub" as const) : ("local" as const), ...hub, files };
	});
}

/** The files of one model the merge uses, with sizes; sha256 filled in later. */
async function inputFiles(plan: MergePlan, model: number, withSideFiles: boolean): Promise<LockedFile[]> {
	const dir = plan.models[model].dir;
	const names = new Set(["config.json", ...plan.weights[model].shards().map((f) => basename(f.path))]);
	const listing = await readdir(dir);
	if (listing.includes(INDEX_FILE_NAME)) names.add(INDEX_FILE_NAME);
	if (withSideFiles) for (const name of listing) if (MERGE_SIDE_FILES.has(name)) names.add(name);
	const files: LockedFile[] = [];
	for (const name of [...names].sort()) files.push({ path: name, size: (await stat(join(dir, name))).size, sha256: "" });
	return files;
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
