import { basename, join } from "node:path";
import { DEFAULT_REVISION } from "../recipe/index.js";
import { ADAPTER_FILES } from "../checkpoint/side-files.js";
import {
	LOCK_FILE_NAME,
	type LockModel,
	type LockRole,
	type LockedSource,
	assertMatchesLock,
	lockFolderFiles,
	lockHead,
	lockSources,
	readLock,
	recipeLockPath,
	writeLock,
} from "../lock/index.js";
import type { MergePlan } from "./plan-merge.js";
import type { RangeReadFile, RangeWeightSource } from "../hub/remote-weight-files.js";

/** The moments of a merge that involve its lock, so run-merge.ts stays about merging. */

/** Input hashes being computed in the background (worker threads) while the merge writes. */
export interface InputHashing {
	sources: Promise<LockedSource[]>;
	/** Stops the hashing (the merge failed). */
	cancel(): void;
}

/** Starts hashing the inputs of a plan, to overlap with writing the output. */
export function hashInputs(plan: MergePlan, options: { copyTokenizer: boolean }): InputHashing {
	const abort = new AbortController();
	const { models, roles } = lockInputs(plan, options.copyTokenizer);
	const sources = lockSources(models, roles, { signal: abort.signal });
	sources.catch(() => {}); // awaited later, or abandoned when the merge fails first
	return { sources, cancel: () => abort.abort() };
}

/** For --locked, before anything is written: the sources must match the lock beside the recipe. */
export async function checkRecipeLock(plan: MergePlan, sources: LockedSource[]): Promise<void> {
	const file = recipeLockPath(plan.recipe.file);
	assertMatchesLock(file, await readLock(file), sources);
}

/**
 * Into the (staging) output folder, last: the sources and the sha256 of every file written.
 * `known` holds hashes computed while writing (the shards), so only the small files are read back.
 */
export async function writeOutputLock(dir: string, plan: MergePlan, sources: LockedSource[], known?: ReadonlyMap<string, string>): Promise<string> {
	const files = await lockFolderFiles(dir, LOCK_FILE_NAME, undefined, known);
	await writeLock(join(dir, LOCK_FILE_NAME), { ...lockHead(plan.recipe, withRangeChecks(plan, sources)), output: { files } });
	return LOCK_FILE_NAME;
}

/**
 * Writes `<recipe>.lock.json` beside the recipe when its sources changed (or it is new), like npm
 * updates package-lock.json; never with --locked. Returns its path when written.
 */
export async function updateRecipeLock(plan: MergePlan, sources: LockedSource[]): Promise<string | undefined> {
	const file = recipeLockPath(plan.recipe.file);
	const next = lockHead(plan.recipe, sources);
	const old = await readLock(file).catch(() => undefined);
	if (old && JSON.stringify(old) === JSON.stringify(next)) return undefined;
	await writeLock(file, next);
	return file;
}

/** The plan's models and roles as the lock knows them (the base's tokenizer files are inputs only when copied). */
function lockInputs(plan: MergePlan, copyTokenizer: boolean): { models: LockModel[]; roles: LockRole[] } {
	const models = plan.models.map((m, i): LockModel => ({
		ref: m.label,
		hub: m.ref.kind === "hub" ? { repo: m.ref.repo, revision: m.ref.revision ?? DEFAULT_REVISION } : undefined,
		commit: m.commit,
		dir: m.dir,
		weightFiles: plan.weights[i].shards().map((f) => basename(f.path)),
		rangeFiles: rangeFilesOf(m),
		sideFiles: i === plan.base && copyTokenizer,
	}));
	const roles: LockRole[] = [
		{ role: "base", model: plan.base },
		...plan.experts.map((model, i) => ({ role: `expert ${i}`, model })),
		...plan.sharedExperts.map((model, i) => ({ role: `shared expert ${i}`, model })),
	];
	// base+lora: the adapter is a source of its own, after the model it changes (`expert 1 lora`).
	const adapterIndex = new Map<number, number>();
	plan.models.forEach((m, i) => {
		if (!m.adapter) return;
		adapterIndex.set(i, models.length);
		const { ref, label, dir, commit } = m.adapter;
		models.push({ ref: label, hub: ref.kind === "hub" ? { repo: ref.repo, revision: ref.revision ?? DEFAULT_REVISION } : undefined, commit, dir, weightFiles: [], sideFiles: false, files: ADAPTER_FILES });
	});
	const withAdapters = roles.flatMap((r) => (adapterIndex.has(r.model) ? [r, { role: `${r.role} lora`, model: adapterIndex.get(r.model) as number }] : [r]));
	return { models, roles: withAdapters };
}

/** The range-read weight files of a model (a merge streamed from the Hub), if any. */
function rangeFilesOf(model: MergePlan["models"][number]): ReadonlyMap<string, RangeReadFile> | undefined {
	const source = model.weightFiles;
	return source && "rangeFiles" in source ? (source as RangeWeightSource).rangeFiles : undefined;
}

/** Each range-read file of the sources marked with how it was checked, now that the merge has read it. */
function withRangeChecks(plan: MergePlan, sources: LockedSource[]): LockedSource[] {
	const roleModels = new Map<string, number>([["base", plan.base], ...plan.experts.map((m, i) => [`expert ${i}`, m] as const), ...plan.sharedExperts.map((m, i) => [`shared expert ${i}`, m] as const)]);
	return sources.map((source) => {
		const model = roleModels.get(source.role);
		const range = model === undefined ? undefined : rangeFilesOf(plan.models[model]);
		if (!range) return source;
		return { ...source, files: source.files.map((f) => (range.has(f.path) ? { ...f, check: range.get(f.path)!.check() } : f)) };
	});
}
