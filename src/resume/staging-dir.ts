import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { OutputError } from "../errors.js";
import { partialPathOf } from "./partial-names.js";

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
	return partialPathOf(target, "partial");
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
				old = partialPathOf(finalDir, "old");
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
		// A resume record update may be renaming its temporary file meanwhile (it is fsynced by its writer).
		const handle = await open(join(dir, name), "r").catch((error: NodeJS.ErrnoException) => {
			if (error.code === "ENOENT") return undefined;
			throw error;
		});
		if (!handle) continue;
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
