/** Reading `model.safetensors.index.json`, the map from tensor name to shard file of a sharded model. */
import { isAbsolute, normalize } from "node:path";
import { SafetensorsError } from "../errors.js";
import { JSON_LIMITS, readTextCapped } from "../util/read-json-capped.js";
import { findDuplicateKey } from "./json-duplicates.js";
import { jsonNestingDepth } from "./json-depth.js";

/** An index nests two levels ({"weight_map": {...}}); some writers add a little metadata. Far deeper is corrupt. */
const MAX_INDEX_DEPTH = 16;

export interface WeightIndex {
	/** tensor name -> shard file name, in the index's order */
	weightMap: Map<string, string>;
	/** the distinct shard file names, in order of first mention */
	shardFiles: string[];
}

export async function readWeightIndex(path: string): Promise<WeightIndex> {
	let text: string;
	try {
		// The biggest real indexes (~100k tensors) are about 10 MB; a bigger file is not an index.
		text = await readTextCapped(path, JSON_LIMITS.weightIndex, path, { error: SafetensorsError });
	} catch (error) {
		if (error instanceof SafetensorsError) throw error;
		fail(path, `cannot read: ${(error as Error).message}`);
	}
	const depth = jsonNestingDepth(text);
	if (depth > MAX_INDEX_DEPTH) fail(path, `nests ${depth} levels deep (at most ${MAX_INDEX_DEPTH} expected)`);
	let json: unknown;
	try {
		json = JSON.parse(text);
	} catch (error) {
		fail(path, `not valid JSON (${(error as Error).message})`);
	}
	if (!isJsonObject(json)) fail(path, "not a JSON object");
	const duplicate = findDuplicateKey(text);
	if (duplicate !== undefined) fail(path, `the key ${JSON.stringify(duplicate)} appears twice`);
	const weightMap = json.weight_map;
	if (!isJsonObject(weightMap)) fail(path, `"weight_map" must be an object of tensor name -> shard file name`);

	const map = new Map<string, string>();
	for (const [name, shard] of Object.entries(weightMap)) {
		if (typeof shard !== "string" || !isSafeRelativePath(shard)) {
			fail(path, `"weight_map" entry ${JSON.stringify(name)} must be a shard file name inside the model folder, got ${JSON.stringify(shard).slice(0, 80)}`);
		}
		map.set(name, shard);
	}
	return { weightMap: map, shardFiles: [...new Set(map.values())] };
}

/** Refuses absolute paths and `..`, so an index cannot make us open files outside the model folder. */
function isSafeRelativePath(name: string): boolean {
	if (name === "" || isAbsolute(name)) return false;
	const normal = normalize(name);
	return normal !== ".." && !normal.startsWith("../") && !normal.startsWith("..\\");
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fail(file: string, cause: string): never {
	throw new SafetensorsError(`${file}: invalid safetensors index: ${cause}`, { file });
}
