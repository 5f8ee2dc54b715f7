/**
 * The weights of one model folder, in any of the layouts found on the Hub: `model.safetensors`,
 * `model.safetensors.index.json` + shards, or a lone set of `*.safetensors` files.
 * Only headers are read when opening; every shard stays open for positional reads.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { SafetensorsError } from "../errors.js";
import { SafetensorsFile } from "./file.js";
import type { TensorInfo } from "./header.js";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from "./file-names.js";
import { readWeightIndex } from "./weight-index.js";
import { ONLY_SAFETENSORS_HINT, folderFileNames, selectWeightFiles } from "./weight-files.js";

/** What reads a tensor's bytes: its safetensors file, or something that computes them (a LoRA applied, src/lora/). */
export type TensorReader = Pick<SafetensorsFile, "path" | "read">;

export interface TensorLocation {
	file: TensorReader;
	info: TensorInfo;
}

/**
 * Where a model's weight files are: a local folder (the default), or elsewhere, e.g. a Hub repo whose
 * headers `plan` reads with range requests. Names are relative to the model folder.
 */
export interface WeightSource {
	isFile(name: string): Promise<boolean>;
	/** The names of the files at the top level (the weights are picked among them by selectWeightFiles). */
	list(): Promise<string[]>;
	open(name: string): Promise<SafetensorsFile>;
}

/** How many index/shard disagreements one error message lists before "and N more". */
const MAX_LISTED_PROBLEMS = 5;

export class ModelWeights {
	readonly dir: string;
	private readonly files: SafetensorsFile[];
	private readonly tensors: Map<string, TensorLocation>;

	private constructor(dir: string, files: SafetensorsFile[], tensors: Map<string, TensorLocation>) {
		this.dir = dir;
		this.files = files;
		this.tensors = tensors;
	}

	/**
	 * Opens every shard (headers only) and checks that the index, if any, matches the shards. The index
	 * is always read from `dir`; the shards from `source` (default: `dir` too).
	 */
	static async open(dir: string, source: WeightSource = localWeightSource(dir)): Promise<ModelWeights> {
		if (await isFile(join(dir, INDEX_FILE_NAME))) return openIndexed(dir, source);
		const selected = selectWeightFiles(await source.list());
		if (selected.kind === "indexed") return openIndexed(dir, source);
		if (selected.kind === "files") return openUnindexed(dir, source, selected.files);
		throw new SafetensorsError(`${dir}: no safetensors weights found (no ${SINGLE_FILE_NAME}, ${INDEX_FILE_NAME} or *.safetensors)`, {
			file: dir,
			hint: selected.otherWeights.length > 0 ? `this model only has ${selected.otherWeights.slice(0, 3).join(", ")}; ${ONLY_SAFETENSORS_HINT}` : undefined,
		});
	}

	/** Tensor names: index order for sharded models, else file order then header order. */
	names(): string[] {
		return [...this.tensors.keys()];
	}

	has(name: string): boolean {
		return this.tensors.has(name);
	}

	get(name: string): TensorLocation {
		const location = this.tensors.get(name);
		if (!location) throw new SafetensorsError(`${this.dir}: the model weights have no tensor ${JSON.stringify(name)}`, { file: this.dir });
		return location;
	}

	/** The open shard files, e.g. to sum their sizes for progress reporting. */
	shards(): readonly SafetensorsFile[] {
		return this.files;
	}

	async close(): Promise<void> {
		await closeAll(this.files);
	}

	/**
	 * The same weights with some tensors read from elsewhere (a LoRA applied while they are read). The
	 * result owns the files: close it instead of this one.
	 */
	withTensors(replaced: ReadonlyMap<string, TensorLocation>): ModelWeights {
		const tensors = new Map(this.tensors);
		for (const [name, location] of replaced) {
			if (!tensors.has(name)) throw new Error(`withTensors: ${name} is not a tensor of ${this.dir}`);
			tensors.set(name, location);
		}
		return new ModelWeights(this.dir, this.files, tensors);
	}

	/**
	 * The same files under another table of tensors (an MoE seen as a dense model: src/model/moe-as-dense.ts).
	 * The result owns the files: close it instead of this one.
	 */
	withTable(tensors: ReadonlyMap<string, TensorLocation>): ModelWeights {
		return new ModelWeights(this.dir, this.files, new Map(tensors));
	}

	/** @internal */
	static fromParts(dir: string, files: SafetensorsFile[], tensors: Map<string, TensorLocation>): ModelWeights {
		return new ModelWeights(dir, files, tensors);
	}
}

/** The weight files of a local folder. */
function localWeightSource(dir: string): WeightSource {
	return {
		isFile: (name) => isFile(join(dir, name)),
		list: () => listFolder(dir),
		open: (name) => SafetensorsFile.open(join(dir, name)),
	};
}

async function openIndexed(dir: string, source: WeightSource): Promise<ModelWeights> {
	const indexPath = join(dir, INDEX_FILE_NAME);
	const { weightMap, shardFiles } = await readWeightIndex(indexPath);
	const missing: string[] = [];
	for (const shard of shardFiles) if (!(await source.isFile(shard))) missing.push(shard);
	if (missing.length > 0) {
		throw new SafetensorsError(
			`${indexPath}: the index lists shard file${missing.length > 1 ? "s" : ""} ${missing.map(quote).join(", ")} but ${missing.length > 1 ? "they are" : "it is"} missing from ${dir}`,
			{ file: indexPath, hint: "the download is incomplete; fetch the missing shards" },
		);
	}
	const files = await openAll(source, shardFiles);
	try {
		return ModelWeights.fromParts(dir, files, locateIndexed(indexPath, weightMap, shardFiles, files));
	} catch (error) {
		await closeAll(files);
		throw error;
	}
}

/** Checks the index against what the shards really hold; tensors the index does not list are kept too. */
function locateIndexed(indexPath: string, weightMap: Map<string, string>, shardFiles: string[], files: SafetensorsFile[]): Map<string, TensorLocation> {
	const shardOf = new Map<string, number[]>();
	files.forEach((file, i) => {
		for (const name of file.header.tensors.keys()) shardOf.set(name, [...(shardOf.get(name) ?? []), i]);
	});
	const problems: string[] = [];
	const tensors = new Map<string, TensorLocation>();
	for (const [name, shard] of weightMap) {
		const file = files[shardFiles.indexOf(shard)]!;
		const info = file.header.tensors.get(name);
		if (info) {
			tensors.set(name, { file, info });
			continue;
		}
		const actual = shardOf.get(name);
		problems.push(actual
			? `tensor ${quote(name)} is listed in ${quote(shard)} but is in ${actual.map((i) => quote(shardFiles[i]!)).join(", ")}`
			: `tensor ${quote(name)} is listed in ${quote(shard)} but no shard contains it`);
	}
	for (const [name, indices] of shardOf) {
		if (weightMap.has(name)) continue;
		if (indices.length > 1) {
			problems.push(`tensor ${quote(name)} is in ${indices.map((i) => quote(shardFiles[i]!)).join(" and ")} and the index does not say which to use`);
			continue;
		}
		const file = files[indices[0]!]!;
		tensors.set(name, { file, info: file.header.tensors.get(name)! });
	}
	if (problems.length > 0) {
		const listed = problems.slice(0, MAX_LISTED_PROBLEMS).join("; ");
		const more = problems.length > MAX_LISTED_PROBLEMS ? ` (and ${problems.length - MAX_LISTED_PROBLEMS} more)` : "";
		throw new SafetensorsError(`${indexPath}: the index does not match the shard files: ${listed}${more}`, {
			file: indexPath,
			hint: "the index and the shards come from different versions of the model; download them again together",
		});
	}
	return tensors;
}

async function openUnindexed(dir: string, source: WeightSource, fileNames: string[]): Promise<ModelWeights> {
	const files = await openAll(source, fileNames);
	const tensors = new Map<string, TensorLocation>();
	for (const file of files) {
		for (const [name, info] of file.header.tensors) {
			const other = tensors.get(name);
			if (other) {
				await closeAll(files);
				throw new SafetensorsError(`${dir}: tensor ${quote(name)} is in both ${other.file.path} and ${file.path}, and there is no ${INDEX_FILE_NAME} to say which to use`, { file: dir });
			}
			tensors.set(name, { file, info });
		}
	}
	return ModelWeights.fromParts(dir, files, tensors);
}

async function listFolder(dir: string): Promise<string[]> {
	try {
		return await folderFileNames(dir);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		throw new SafetensorsError(`${dir}: cannot read the model folder: ${code ?? (error as Error).message}`, { file: dir, cause: error });
	}
}

/** Opens all files; if any fails, closes the others and throws the first failure in name order. */
async function openAll(source: WeightSource, names: string[]): Promise<SafetensorsFile[]> {
	const results = await Promise.allSettled(names.map((name) => source.open(name)));
	const opened = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
	const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
	if (failure) {
		await closeAll(opened);
		throw failure.reason;
	}
	return opened;
}

async function closeAll(files: SafetensorsFile[]): Promise<void> {
	await Promise.allSettled(files.map((file) => file.close()));
}

async function isFile(path: string): Promise<boolean> {
	try {
		return (await stat(path)).isFile();
	} catch {
		return false;
	}
}

function quote(name: string): string {
	return JSON.stringify(name);
}
