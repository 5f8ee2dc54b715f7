/**
 * `moe-merge extract`: one expert of an MoE checkpoint as a dense model (its attention path and expert
 * N's MLP, config derived back to the dense family, tokenizer), streamed tensor by tensor into a
 * staging folder beside the output that is verified, locked and renamed into place only when complete.
 */
import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { readConfigObject } from "../inputs/dense-config.js";
import { LOCK_FILE_NAME, lockFolderFiles, lockHead, lockSources, writeLock } from "../lock/index.js";
import { writeShards, type WriteProgress } from "../merge/write-shards.js";
import { DEFAULT_SHARD_SIZE } from "../merge/plan-merge.js";
import { describeMoe, type MoeSpec } from "../model/moe-spec.js";
import { denseViewOfMoe } from "../model/moe-as-dense.js";
import { stringifyConfig } from "../output/config-json.js";
import { copyBaseFiles } from "../output/copy-base-files.js";
import { describeOutputFailure } from "../output/output-write-error.js";
import { checkOutputTarget } from "../output/output-target.js";
import { createStagingDir } from "../resume/staging-dir.js";
import { ModelWeights, encodeIndex, planShards } from "../safetensors/index.js";
import { checkMergedOutput } from "../verify/index.js";
import { VERSION } from "../version.js";
import { denseConfigOfMoe } from "../model/dense-config-of-moe.js";
import { checkExtractRequest, planExtractTensors } from "./plan-extract.js";

/** The MoE to extract from, found on disk (a local folder or a Hub snapshot). */
export interface ExtractSource {
	/** The reference as the user wrote it (recorded in the lock and the card). */
	label: string;
	dir: string;
	/** Hub sources: `org/name`, the revision asked for, and the commit it resolved to. */
	hub?: { repo: string; revision: string; commit?: string };
}

export interface ExtractOptions {
	expert: number;
	outputDir: string;
	/** Add the shared expert's MLP to the expert's (refused where that is not exact: a gated shared expert). */
	sharedExpert?: boolean;
	overwrite?: boolean;
	/** Copy the MoE's tokenizer files (default true). */
	copyTokenizer?: boolean;
	shardSize?: number;
	onProgress?: (progress: WriteProgress) => void;
	signal?: AbortSignal;
}

export interface ExtractResult {
	outputDir: string;
	/** The MoE's architecture (display name) and the dense family written. */
	architecture: string;
	modelType: string;
	expert: number;
	sharedExpert: boolean;
	intermediateSize: number;
	shards: string[];
	tensors: number;
	bytes: number;
	seconds: number;
	files: string[];
}

/** Reads the MoE's config through its architecture's description (registry, by model_type). */
async function readMoe(dir: string): Promise<{ raw: Record<string, unknown>; spec: MoeSpec; file: string }> {
	const { raw, file } = await readConfigObject(dir);
	return { raw, spec: describeMoe(raw, file), file };
}

export async function runExtract(source: ExtractSource, options: ExtractOptions): Promise<ExtractResult> {
	const started = performance.now();
	const { raw, spec, file } = await readMoe(source.dir);
	checkExtractRequest(spec, options, source.label);
	await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, inputs: [source.dir] });
	const weights = await ModelWeights.open(source.dir);
	let view: ModelWeights;
	try {
		view = denseViewOfMoe(spec, weights, options.expert);
	} catch (error) {
		await weights.close();
		throw error;
	}
	try {
		const { tensors, intermediate } = planExtractTensors(spec, view, weights, options);
		const { family, config } = denseConfigOfMoe(spec.arch, raw, file, intermediate);
		const shards = planShards(tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), options.shardSize ?? DEFAULT_SHARD_SIZE);
		const bytes = shards.reduce((sum, s) => sum + s.dataBytes, 0);
		await checkOutputTarget(options.outputDir, { overwrite: options.overwrite, requiredBytes: bytes, inputs: [source.dir] });
		const tokenizer = options.copyTokenizer !== false;
		// The source's files are hashed on other cores while the output is written.
		const sources = lockSources(
			[{ ref: source.label, hub: source.hub && { repo: source.hub.repo, revision: source.hub.revision }, commit: source.hub?.commit, dir: source.dir, weightFiles: weights.shards().map((f) => basename(f.path)), sideFiles: tokenizer }],
			[{ role: "moe", model: 0 }],
			{ signal: options.signal },
		);
		sources.catch(() => {});
		const staging = await createStagingDir(options.outputDir, { overwrite: options.overwrite });
		try {
			const shardHashes = await writeShards({ dir: staging.path, tensors, shards, sources: [view, weights], seed: 0, onProgress: options.onProgress, signal: options.signal });
			const files = ["config.json", "README.md", ...shards.map((s) => s.fileName)];
			await writeFile(join(staging.path, "config.json"), stringifyConfig(config));
			if (shards.length > 1) {
				await writeFile(join(staging.path, "model.safetensors.index.json"), encodeIndex(shards));
				files.push("model.safetensors.index.json");
			}
			files.push(...(await copyBaseFiles(source.dir, staging.path, { tokenizer })));
			await writeFile(join(staging.path, "README.md"), extractCard(source, spec, family, options));
			await checkMergedOutput(staging.path);
			const jobText = extractJobText(source, options);
			const outputFiles = await lockFolderFiles(staging.path, LOCK_FILE_NAME, options.signal, shardHashes);
			await writeLock(join(staging.path, LOCK_FILE_NAME), { ...lockHead({ file: "extract", text: jobText }, await sources), output: { files: outputFiles } });
			files.push(LOCK_FILE_NAME);
			await staging.commit();
			return {
				outputDir: staging.target,
				architecture: spec.arch.displayName,
				modelType: family,
				expert: options.expert,
				sharedExpert: options.sharedExpert === true,
				intermediateSize: intermediate,
				shards: shards.map((s) => s.fileName),
				tensors: tensors.length,
				bytes,
				seconds: (performance.now() - started) / 1000,
				files: files.sort(),
			};
		} catch (error) {
			await staging.discard();
			throw describeOutputFailure(error);
		}
	} finally {
		await view.close();
	}
}

/** What was asked, as the lock's "recipe" (its sha256 tells two extracts apart). */
function extractJobText(source: ExtractSource, options: ExtractOptions): string {
	return `extract: ${JSON.stringify(source.label)}\nexpert: ${options.expert}\nshared_expert: ${options.sharedExpert === true}\n`;
}

function extractCard(source: ExtractSource, spec: MoeSpec, family: string, options: ExtractOptions): string {
	const hubId = source.hub?.repo;
	const shared = options.sharedExpert ? " plus its shared expert (added as a residual: the MLPs side by side)" : "";
	return [
		"---",
		...(hubId ? [`base_model: ${hubId}`, "base_model_relation: finetune"] : []),
		"tags:",
		"  - moe-merge",
		"  - extracted-expert",
		"library_name: transformers",
		"pipeline_tag: text-generation",
		"---",
		"",
		`# Expert ${options.expert} of ${source.label}`,
		"",
		`A dense ${family} model extracted with [moe-merge](https://www.npmjs.com/package/moe-merge) ${VERSION} from the ${spec.arch.displayName} ${source.label}` +
			`${source.hub?.commit ? ` (commit ${source.hub.commit})` : ""}: its embeddings, attention and norms, and the MLP of routed expert ${options.expert} in every layer${shared}.`,
		"The tensors are copied byte for byte; `moe-merge.lock.json` records the source files' sha256.",
		"",
	].join("\n");
}

