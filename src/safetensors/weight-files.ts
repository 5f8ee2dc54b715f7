/**
 * Which files hold a model's weights, decided once for every place that asks (a Hub repo's listing, a
 * cached snapshot, a local folder, opening the weights): the index and its shards, else
 * model.safetensors, else every *.safetensors at the top level, the order transformers looks in.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from "./file-names.js";

/** Weights we never read: pickles can run code, and GGUF is quantized for inference. */
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|gguf|h5|msgpack)$/;

export type WeightFiles =
	| { kind: "indexed"; index: typeof INDEX_FILE_NAME }
	/** model.safetensors alone, or every *.safetensors (sorted) when there is neither index nor model.safetensors. */
	| { kind: "files"; files: string[] }
	/** No safetensors weights; `otherWeights` lists the weight files of other formats found instead. */
	| { kind: "none"; otherWeights: string[] };

/** What a user with only other weight formats should do. */
export const ONLY_SAFETENSORS_HINT =
	"moe-merge reads only safetensors (pickled .bin/.pt files can run code, GGUF is quantized): convert them to safetensors (transformers: save_pretrained(..., safe_serialization=True)), or pick a revision or a repo with *.safetensors";

/** The weight files among the top-level file names of a model (names of folders must not be given). */
export function selectWeightFiles(names: readonly string[]): WeightFiles {
	if (names.includes(INDEX_FILE_NAME)) return { kind: "indexed", index: INDEX_FILE_NAME };
	if (names.includes(SINGLE_FILE_NAME)) return { kind: "files", files: [SINGLE_FILE_NAME] };
	const files = names.filter((n) => n.endsWith(".safetensors")).sort();
	if (files.length > 0) return { kind: "files", files };
	return { kind: "none", otherWeights: names.filter((n) => OTHER_WEIGHTS.test(n)).sort() };
}

/**
 * The names of the regular files at the top of a folder, through symlinks (a link to a missing cache
 * blob is not a file). Throws the file system's error when the folder cannot be listed.
 */
export async function folderFileNames(dir: string): Promise<string[]> {
	const names = await readdir(dir);
	const isFile = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => s.isFile(), () => false)));
	return names.filter((_, i) => isFile[i]);
}
