import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from "../safetensors/index.js";

/**
 * What a cached snapshot lacks for a merge: config.json and complete weights (the index and all its
 * shards, or model.safetensors, or some *.safetensors). Empty when it can be used without the Hub.
 * Files are followed through their symlinks, so a link to a missing blob counts as missing.
 */
export async function snapshotGaps(dir: string): Promise<string[]> {
	const gaps: string[] = [];
	if (!(await isFile(join(dir, "config.json")))) gaps.push("config.json");
	if (await isFile(join(dir, INDEX_FILE_NAME))) {
		let shards: string[] = [];
		try {
			const index = JSON.parse(await readFile(join(dir, INDEX_FILE_NAME), "utf8")) as { weight_map?: Record<string, string> };
			shards = [...new Set(Object.values(index.weight_map ?? {}))];
		} catch {
			return [...gaps, `a readable ${INDEX_FILE_NAME}`];
		}
		for (const shard of shards.sort()) if (!(await isFile(join(dir, shard)))) gaps.push(shard);
		return gaps;
	}
	if (await isFile(join(dir, SINGLE_FILE_NAME))) return gaps;
	const names = await readdir(dir).catch(() => [] as string[]);
	const weights = await Promise.all(names.filter((n) => n.endsWith(".safetensors")).map((n) => isFile(join(dir, n))));
	if (!weights.some(Boolean)) gaps.push("*.safetensors weights");
	return gaps;
}

async function isFile(path: string): Promise<boolean> {
	try {
		return (await stat(path)).isFile();
	} catch {
		return false;
	}
}
