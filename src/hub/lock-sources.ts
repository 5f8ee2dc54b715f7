import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { MergePlan } from "../merge/plan-merge.js";
import type { ModelRef } from "../recipe/index.js";
import { INDEX_FILE_NAME } from "../safetensors/index.js";
import { sha256File } from "./content-hash.js";
import type { LockedFile, LockedSource } from "./merge-lock.js";
import { MERGE_SIDE_FILES } from "./merge-files.js";
import { runPool } from "./run-pool.js";

const SHA256 = /^[0-9a-f]{64}$/;

export interface LockSourcesOptions {
	/** The base model's tokenizer files are inputs only when they are copied. */
	copyTokenizer: boolean;
	/** Files hashed at the same time (default 2: one per core on small machines). */
	concurrency?: number;
}

/**
 * Every input model of a plan with the files the merge reads (config, index, shards; for the base also
 * generation config and tokenizer) and their sha256. A Hub file stored under its sha256 (LFS, checked
 * when downloaded) is not read again: its blob name is the hash. Everything else is hashed, 1 MB at a time.
 */
export async function lockSources(plan: MergePlan, options: LockSourcesOptions): Promise<LockedSource[]> {
	const roles: { role: string; model: number }[] = [
		{ role: "base", model: plan.base },
		...plan.experts.map((model, i) => ({ role: `expert ${i}`, model })),
		...plan.recipe.sharedExperts.map((s, i) => ({ role: `shared expert ${i}`, model: plan.models.findIndex((m) => sameRef(m.ref, s.source)) })),
	].filter((r) => r.model >= 0);
	const filesOf = new Map<number, Promise<LockedFile[]>>();
	const hashes = new Map<string, string>();
	const listFor = (model: number) => {
		let list = filesOf.get(model);
		if (!list) {
			list = inputFiles(plan, model, model === plan.base && options.copyTokenizer);
			filesOf.set(model, list);
		}
		return list;
	};
	const paths = new Set<string>();
	for (const { model } of roles) for (const f of await listFor(model)) paths.add(join(plan.models[model].dir, f.path));
	await runPool([...paths], options.concurrency ?? 2, async (path) => {
		hashes.set(path, await sha256Of(path));
	});
	const sources: LockedSource[] = [];
	for (const { role, model } of roles) {
		const m = plan.models[model];
		const files = (await listFor(model)).map((f) => ({ ...f, sha256: hashes.get(join(m.dir, f.path)) as string }));
		const hub = m.ref.kind === "hub" ? { repo: m.ref.repo, revision: m.ref.revision ?? "main", commit: m.commit } : {};
		sources.push({ role, ref: m.label, kind: m.ref.kind === "hub" ? "hub" : "local", ...hub, files });
	}
	return sources;
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

/** A symlink into a Hub cache blob named by a sha256 gives the hash for free; anything else is read. */
async function sha256Of(path: string): Promise<string> {
	if ((await lstat(path)).isSymbolicLink()) {
		const target = basename(await readlink(path));
		if (SHA256.test(target)) return target;
	}
	return sha256File(path);
}

/** Output files and their sha256 (the lock itself excepted). */
export async function lockFolderFiles(dir: string, except: string, concurrency = 2): Promise<LockedFile[]> {
	const names = (await readdir(dir)).filter((n) => n !== except && !n.startsWith(".")).sort();
	const files: LockedFile[] = names.map((path) => ({ path, size: 0, sha256: "" }));
	await runPool(files, concurrency, async (file) => {
		file.size = (await stat(join(dir, file.path))).size;
		file.sha256 = await sha256File(join(dir, file.path));
	});
	return files;
}

function sameRef(a: ModelRef, b: ModelRef): boolean {
	if (a.kind === "local" && b.kind === "local") return a.path === b.path;
	if (a.kind === "hub" && b.kind === "hub") return a.repo === b.repo && (a.revision ?? "main") === (b.revision ?? "main");
	return a.text === b.text;
}
