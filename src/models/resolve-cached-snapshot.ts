import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { ModelError } from "../errors.js";
import { hubCacheDir, repoCacheFolderName } from "./hub-cache-dir.js";

export interface CachedSnapshot {
	dir: string;
	commit: string;
}

const COMMIT_SHA = /^[0-9a-f]{40}$/;

/**
 * Finds `org/name@revision` in the local Hugging Face cache: a full commit sha names a snapshot folder,
 * a branch or tag is looked up in `refs/`. Throws a ModelError saying how to get the model otherwise.
 */
export async function resolveCachedSnapshot(repo: string, revision = "main", cacheDir = hubCacheDir()): Promise<CachedSnapshot> {
	const repoDir = join(cacheDir, repoCacheFolderName(repo));
	let commit = revision;
	if (!COMMIT_SHA.test(revision)) {
		const refFile = join(repoDir, "refs", ...revision.split("/"));
		try {
			commit = (await readFile(refFile, "utf8")).trim();
		} catch {
			throw notCached(repo, revision, cacheDir);
		}
	}
	const dir = join(repoDir, "snapshots", commit);
	try {
		if (!(await stat(dir)).isDirectory()) throw new Error("not a folder");
	} catch {
		throw notCached(repo, revision, cacheDir);
	}
	return { dir, commit };
}

function notCached(repo: string, revision: string, cacheDir: string): ModelError {
	return new ModelError(`${repo}@${revision}: not found in the local Hugging Face cache (${cacheDir})`, {
		file: cacheDir,
		hint: `download it first (e.g. \`huggingface-cli download ${repo} --revision ${revision}\`), or point HF_HUB_CACHE / HF_HOME at the cache that has it`,
	});
}
