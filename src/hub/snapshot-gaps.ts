import { join } from "node:path";
import { JSON_LIMITS, readJsonCapped } from "../util/read-json-capped.js";
import { folderFileNames, selectWeightFiles } from "../safetensors/index.js";
import { ADAPTER_FILES } from "../checkpoint/side-files.js";

/**
 * What a cached snapshot lacks for a merge: config.json and complete weights (the index and all its
 * shards, or model.safetensors, or some *.safetensors). Empty when it can be used without the Hub.
 * Files are followed through their symlinks, so a link to a missing blob counts as missing.
 */
export async function snapshotGaps(dir: string, mode: { adapter?: boolean } = {}): Promise<string[]> {
	const names = await folderFileNames(dir).catch(() => [] as string[]);
	if (mode.adapter) return ADAPTER_FILES.filter((name) => !names.includes(name));
	const gaps = names.includes("config.json") ? [] : ["config.json"];
	const selected = selectWeightFiles(names);
	if (selected.kind === "files") return gaps;
	if (selected.kind === "none") return [...gaps, "*.safetensors weights"];
	let shards: string[] = [];
	try {
		const index = (await readJsonCapped(join(dir, selected.index), JSON_LIMITS.weightIndex)) as { weight_map?: Record<string, string> };
		shards = [...new Set(Object.values(index.weight_map ?? {}))];
	} catch {
		return [...gaps, `a readable ${selected.index}`];
	}
	return [...gaps, ...shards.sort().filter((shard) => !names.includes(shard))];
}
