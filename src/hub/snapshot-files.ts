import { INDEX_FILE_NAME, ONLY_SAFETENSORS_HINT, selectWeightFiles } from "../safetensors/index.js";
import { CONFIG_FILE, MERGE_SIDE_FILES } from "../checkpoint/side-files.js";
import { HubError } from "./hub-error.js";

/** A file of a repo at one commit, as the Hub's tree listing describes it. */
export interface RepoFile {
	path: string;
	size: number;
	/** The cache's blob name: the sha256 for LFS files, the git blob sha1 otherwise. */
	etag: string;
	/** For LFS files: the sha256 of the content, checked after download. */
	sha256?: string;
}

/** What a merge needs from a repo: small side files, then either the index (its shards come later) or the weights. */
export interface SnapshotSelection {
	side: RepoFile[];
	index?: RepoFile;
	/** The weights when there is no index. */
	weights: RepoFile[];
}

/**
 * Picks the files to download from a repo's top level, the weights as a local folder's are picked
 * (selectWeightFiles). Refuses repos without config.json or without safetensors weights (a .bin-only
 * repo says so).
 */
export function selectSnapshotFiles(files: RepoFile[], label: string): SnapshotSelection {
	const byPath = new Map(files.map((f) => [f.path, f]));
	if (!byPath.has(CONFIG_FILE)) {
		throw new HubError(`${label}: the repo has no config.json at its top level; it is not a transformers model`);
	}
	const side = files.filter((f) => MERGE_SIDE_FILES.has(f.path));
	const selected = selectWeightFiles(files.map((f) => f.path));
	if (selected.kind === "indexed") return { side, index: byPath.get(selected.index), weights: [] };
	if (selected.kind === "files") return { side, weights: selected.files.map((name) => byPath.get(name) as RepoFile) };
	const other = selected.otherWeights;
	if (other.length > 0) {
		throw new HubError(`${label}: the repo has no safetensors weights, only ${other.slice(0, 3).join(", ")}${other.length > 3 ? ", ..." : ""}`, { hint: ONLY_SAFETENSORS_HINT });
	}
	throw new HubError(`${label}: the repo has no model weights (*.safetensors) at its top level`);
}

/** The shard files an index names, each checked to be a top-level file of the repo. */
export function indexedShards(indexText: string, files: RepoFile[], label: string): RepoFile[] {
	let names: string[];
	try {
		const map = (JSON.parse(indexText) as { weight_map?: Record<string, unknown> }).weight_map;
		if (!map || typeof map !== "object") throw new Error("no weight_map");
		names = [...new Set(Object.values(map).map(String))].sort();
	} catch (cause) {
		throw new HubError(`${label}: ${INDEX_FILE_NAME} is not a valid index (${(cause as Error).message})`, { cause });
	}
	const byPath = new Map(files.map((f) => [f.path, f]));
	const missing = names.filter((n) => !byPath.has(n));
	if (missing.length > 0) {
		throw new HubError(`${label}: ${INDEX_FILE_NAME} names shards that are not in the repo: ${missing.slice(0, 3).join(", ")}`);
	}
	return names.map((n) => byPath.get(n) as RepoFile);
}
