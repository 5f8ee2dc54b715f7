import { mkdir, open, readdir, rename, rm, stat, statfs } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { OutputError } from "../errors.js";
import { formatBytes } from "../util/size.js";
import { checkOutputSparesInputs } from "./protect-inputs.js";

/**
 * The output is written into a hidden staging folder beside the target and renamed into place only
 * when complete, so a crash, Ctrl-C or a full disk never leaves something that looks finished.
 */
export interface StagingDir {
	/** Where files are written now. */
	path: string;
	/** Where they end up. */
	target: string;
	/**
	 * fsync everything and move into place (replacing the target when overwriting). `lastly` runs
	 * between the (slow) fsyncs and the rename: the resume record goes there, so a kill can hardly
	 * fall between its removal and the rename.
	 */
	commit(lastly?: () => Promise<void>): Promise<void>;
	/** Delete the staging folder (after a failure). */
	discard(): Promise<void>;
}

export interface OutputCheckOptions {
	overwrite?: boolean;
	/** Bytes of the output's shards; refused early when the file system has less free (with OUTPUT_SPACE_MARGIN). */
	requiredBytes?: number;
	/** Folders of the input models: an output that is, contains or lies inside one is refused, even with overwrite. */
	inputs?: readonly string[];
}

/** Room asked beyond the shards: config, tokenizer, model card and lock, and the file system's rounding. */
export const OUTPUT_SPACE_MARGIN = 50_000_000;

/** Refuses an input's folder, an existing non-empty target (unless overwriting) and a file system without room, before any work. */
export async function checkOutputTarget(target: string, options: OutputCheckOptions = {}): Promise<void> {
	const dir = resolve(target);
	if (options.inputs) await checkOutputSparesInputs(dir, options.inputs);
	let entries: string[] | undefined;
	try {
		const info = await stat(dir);
		if (!info.isDirectory()) throw new OutputError(`output ${dir} exists and is not a folder`, { file: dir });
		entries = await readdir(dir);
	} catch (error) {
		if (error instanceof OutputError) throw error;
		if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
			throw new OutputError(`cannot inspect output ${dir}: ${(error as Error).message}`, { file: dir, cause: error });
		}
	}
	if (entries && entries.length > 0 && !options.overwrite) {
		throw new OutputError(`output folder ${dir} already exists and is not empty`, { file: dir, hint: "choose another folder or pass --overwrite" });
	}
	if (options.requiredBytes !== undefined) {
		const free = await freeBytes(dirname(dir));
		const needed = options.requiredBytes + OUTPUT_SPACE_MARGIN;
		if (free !== undefined && free < needed) {
			throw new OutputError(
				`not enough free space for the output in ${dirname(dir)}: needs ${formatBytes(needed)}, has ${formatBytes(free)}`,
				{ file: dir },
			);
		}
	}
}

/** Free bytes for an unprivileged user on the file system holding `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number | undefined> {
	for (let d = resolve(dir); ; d = dirname(d)) {
		try {
			const fs = await statfs(d);
			return fs.bavail * fs.bsize;
		} catch {
			if (dirname(d) === d) return undefined;
		}
	}
}

export async function createStagingDir(target: string, options: { overwrite?: boolean } = {}): Promise<StagingDir> {
	const finalDir = resolve(target);
	const parent = dirname(finalDir);
	await mkdir(parent, { recursive: true }).catch((cause) => {
		throw new OutputError(`cannot create ${parent}: ${cause.message}`, { file: parent, cause });
	});
	const path = stagingPathOf(finalDir);
	await rm(path, { recursive: true, force: true });
	await mkdir(path).catch((cause) => {
		throw new OutputError(`cannot create ${path}: ${cause.message}`, { file: path, cause });
	});
	return stagingAt(path, finalDir, options);
}

/** This process's staging folder for `target`: `.<name>.moe-merge-partial-<pid>` beside it. */
export function stagingPathOf(target: string): string {
	const finalDir = resolve(target);
	return join(dirname(finalDir), `.${basename(finalDir)}.moe-merge-partial-${process.pid}`);
}

/**
 * Takes over the staging folder of a process that is gone (`--resume`) by renaming it to this
 * process's name: the rename is atomic, so of two runs resuming the same folder only one gets it.
 */
export async function adoptStagingDir(target: string, abandoned: string, options: { overwrite?: boolean } = {}): Promise<StagingDir> {
	const finalDir = resolve(target);
	const path = stagingPathOf(finalDir);
	await rm(path, { recursive: true, force: true });
	await rename(abandoned, path).catch((cause) => {
		const gone = (cause as NodeJS.ErrnoException).code === "ENOENT";
		throw new OutputError(gone ? `${abandoned} was taken over by another run while this one started` : `cannot take over ${abandoned}: ${cause.message}`, {
			file: abandoned,
			hint: gone ? "let the other run finish" : undefined,
			cause,
		});
	});
	return stagingAt(path, finalDir, options);
}

function stagingAt(path: string, finalDir: string, options: { overwrite?: boolean }): StagingDir {
	const parent = dirname(finalDir);
	let done = false;
	return {
		path,
		target: finalDir,
		async commit(lastly) {
			await syncTree(path);
			await lastly?.();
			let old: string | undefined;
			try {
				const entries = await readdir(finalDir);
				if (entries.length > 0 && !options.overwrite) {
					throw new OutputError(`output folder ${finalDir} appeared while merging and is not empty`, { file: finalDir });
				}
				old = join(parent, `.${basename(finalDir)}.moe-merge-old-${process.pid}`);
				await rename(finalDir, old);
			} catch (error) {
				if (error instanceof OutputError) throw error;
				if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
			}
			await rename(path, finalDir);
			done = true;
			await syncDir(parent);
			if (old) await rm(old, { recursive: true, force: true });
		},
		async discard() {
			if (!done) await rm(path, { recursive: true, force: true });
		},
	};
}

/** fsync the folder entries so the renamed files survive a power cut (shards are synced by their writer). */
async function syncTree(dir: string): Promise<void> {
	for (const name of await readdir(dir)) {
		if (name.endsWith(".safetensors")) continue;
		const handle = await open(join(dir, name), "r");
		try {
			await handle.sync();
		} finally {
			await handle.close();
		}
	}
	await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
	const handle = await open(dir, "r");
	try {
		await handle.sync();
	} catch {
		// Some file systems refuse fsync on folders; the data itself is already synced.
	} finally {
		await handle.close();
	}
}
