import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { MoeMergeError } from "../errors.js";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME, SafetensorsFile, type TensorInfo } from "../safetensors/index.js";
import { type WeightIndex, readWeightIndex } from "../safetensors/weight-index.js";
import { type CheckpointProblem, messageWithoutPath } from "./problem.js";

export interface ShardTensor {
	/** The shard file name. */
	file: string;
	info: TensorInfo;
	/** The open shard, for reading the data. */
	shard: SafetensorsFile;
}

/** The shards of a checkpoint that opened, every tensor they hold, and what is wrong with them. */
export interface CheckpointShards {
	files: SafetensorsFile[];
	tensors: Map<string, ShardTensor>;
	problems: CheckpointProblem[];
	/** The shard files whose header could not be read (their problem is in `problems`). */
	unreadable: string[];
}

/**
 * Opens every `*.safetensors` file of a checkpoint folder (each header checked strictly, including that
 * its tensors tile the file to its exact size) and checks the index against them: every entry's shard
 * exists and holds the tensor, every shard is named by the index, no tensor is in two shards.
 * Close the returned files with closeShards.
 */
export async function openCheckpointShards(dir: string): Promise<CheckpointShards> {
	const problems: CheckpointProblem[] = [];
	const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith(".safetensors")).map((e) => e.name).sort();
	const files: SafetensorsFile[] = [];
	const tensors = new Map<string, ShardTensor>();
	const opened = new Set<string>();
	const unreadable: string[] = [];
	/** "shard\0earlier shard" -> the tensors both hold. */
	const duplicates = new Map<string, string[]>();
	for (const name of names) {
		const path = join(dir, name);
		try {
			files.push(await SafetensorsFile.open(path));
		} catch (error) {
			if (!(error instanceof MoeMergeError)) throw error;
			problems.push({ file: name, message: messageWithoutPath(error, path) });
			unreadable.push(name);
			continue;
		}
		opened.add(name);
		const shard = files.at(-1)!;
		for (const [tensor, info] of shard.header.tensors) {
			const other = tensors.get(tensor);
			if (other) duplicates.set(`${name}\0${other.file}`, [...(duplicates.get(`${name}\0${other.file}`) ?? []), tensor]);
			else tensors.set(tensor, { file: name, info, shard });
		}
	}
	for (const [pair, names] of duplicates) {
		const [file, other] = pair.split("\0") as [string, string];
		problems.push({ file, message: `holds ${names.length} tensor(s) that ${other} holds too (${listNames(names)})` });
	}
	problems.push(...(await checkIndex(dir, names, opened, tensors)));
	return { files, tensors, problems, unreadable };
}

export async function closeShards(shards: CheckpointShards): Promise<void> {
	await Promise.allSettled(shards.files.map((f) => f.close()));
}

async function checkIndex(dir: string, names: string[], opened: Set<string>, tensors: Map<string, ShardTensor>): Promise<CheckpointProblem[]> {
	const indexPath = join(dir, INDEX_FILE_NAME);
	let index: WeightIndex | undefined;
	if (await exists(indexPath)) {
		try {
			index = await readWeightIndex(indexPath);
		} catch (error) {
			if (!(error instanceof MoeMergeError)) throw error;
			return [{ file: INDEX_FILE_NAME, message: messageWithoutPath(error, indexPath) }];
		}
	}
	if (!index) {
		// Without an index, transformers loads model.safetensors and nothing else.
		if (names.length === 0) return [{ file: ".", message: `no weights: neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME}` }];
		return names
			.filter((n) => n !== SINGLE_FILE_NAME)
			.map((n) => ({ file: n, message: `is not read by any loader: there is no ${INDEX_FILE_NAME} naming it${names.includes(SINGLE_FILE_NAME) ? "" : ` and no ${SINGLE_FILE_NAME}`}` }));
	}
	const problems: CheckpointProblem[] = [];
	for (const shard of index.shardFiles) {
		if (!names.includes(shard)) problems.push({ file: INDEX_FILE_NAME, message: `names shard ${JSON.stringify(shard)}, which is missing` });
	}
	for (const name of names) {
		if (!index.shardFiles.includes(name)) problems.push({ file: name, message: `is not named by ${INDEX_FILE_NAME}` });
	}
	for (const [tensor, shard] of index.weightMap) {
		if (!opened.has(shard)) continue; // missing or unreadable: reported above
		const found = tensors.get(tensor);
		if (found?.file === shard) continue;
		problems.push({
			file: INDEX_FILE_NAME,
			message: found ? `puts tensor ${JSON.stringify(tensor)} in ${shard}, but it is in ${found.file}` : `names tensor ${JSON.stringify(tensor)} in ${shard}, which does not hold it`,
		});
	}
	for (const [tensor, { file }] of tensors) {
		if (!index.weightMap.has(tensor)) problems.push({ file, message: `holds tensor ${JSON.stringify(tensor)}, which ${INDEX_FILE_NAME} does not list` });
	}
	return problems;
}

async function exists(path: string): Promise<boolean> {
	return lstat(path).then(() => true, () => false);
}

/** The first few names, quoted, for a message about many. */
function listNames(names: string[]): string {
	const shown = names.slice(0, 3).map((n) => JSON.stringify(n)).join(", ");
	return names.length > 3 ? `${shown}, ...` : shown;
}
