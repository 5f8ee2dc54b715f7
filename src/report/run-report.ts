/**
 * The routing report, end to end: the checkpoint's config, the prompts (the recipe's, then extra ones)
 * tokenized with the model's tokenizer, one streamed MoE forward pass over all of them, the derived
 * figures, and report.json / report.html written into `outputDir`.
 */
import { access, realpath } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MoeMergeError, OutputError } from "../errors.js";
import { LOCK_FILE_NAME } from "../lock/merge-lock.js";
import { ComputeEngine } from "../kernels/index.js";
import type { LinearBackend } from "../model/linear-backend.js";
import { loadRecipe, type Recipe } from "../recipe/index.js";
import { GateTokenizer } from "../tokenize/index.js";
import { VERSION } from "../version.js";
import { runMoeForward } from "../model/moe-forward.js";
import { readMoeSpec } from "../model/moe-spec.js";
import { buildReport, type RoutingReport } from "./report-data.js";
import { renderReportHtml } from "./report-html.js";
import { readPromptsFile, recipePrompts, tokenizePrompts } from "./report-prompts.js";
import { REPORT_HTML, REPORT_JSON, writeReportFiles } from "./write-report-files.js";

/** Recipe copies a merged folder may hold: ours, then mergekit-moe's (`--write-model-card`). */
export const RECIPE_COPIES = ["moe-merge-recipe.yml", "mergekit_moe_config.yml"];

export interface ReportOptions {
	/** The merged model's folder (config.json, safetensors, tokenizer). */
	modelDir: string;
	/** How the model was named, for the report (default: modelDir). */
	modelLabel?: string;
	/** The recipe whose prompts to run; default: a recipe copy inside modelDir, if any. */
	recipeFile?: string;
	/** A text file of extra prompts, one per line. */
	promptsFile?: string;
	/**
	 * Where report.json and report.html go; nothing is written when absent. Not the model folder when it
	 * holds a moe-merge.lock.json: the lock does not list them, so `moe-merge verify` would reject the folder.
	 */
	outputDir?: string;
	/** Worker threads of the kernel engine (default: one per core); ignored with `backend`. */
	threads?: number;
	backend?: LinearBackend;
	onLayer?: (done: number, layers: number) => void;
	signal?: AbortSignal;
}

export interface ReportResult {
	report: RoutingReport;
	/** The recipe file the prompts came from, if any. */
	recipeFile?: string;
	files: string[];
	seconds: number;
}

export async function runReport(options: ReportOptions): Promise<ReportResult> {
	const started = performance.now();
	if (options.outputDir) await refuseLockedModelFolder(options.modelDir, options.outputDir);
	const spec = await readMoeSpec(options.modelDir);
	const recipeFile = options.recipeFile ?? (await findRecipeCopy(options.modelDir));
	// Reading prompts only: experts that are all one model are fine here.
	const recipe: Recipe | undefined = recipeFile ? await loadRecipe(recipeFile, { allowSameModelExperts: true }) : undefined;
	if (recipe && recipe.experts.length !== spec.experts) {
		throw new MoeMergeError(`${recipeFile}: the recipe has ${recipe.experts.length} experts, the model ${spec.experts}; is it the recipe of this model?`, { file: recipeFile });
	}
	const wanted = [...(recipe ? recipePrompts(recipe) : []), ...(options.promptsFile ? (await readPromptsFile(options.promptsFile)).map((prompt) => ({ prompt })) : [])];
	if (wanted.length === 0) {
		const why = recipeFile ? `${recipeFile} has no prompts (random gates need none)` : `${options.modelDir} holds no recipe copy (${RECIPE_COPIES.join(", ")})`;
		throw new MoeMergeError(`no prompts to run: ${why} and no --prompts file was given`, {
			hint: `pass --prompts prompts.txt (one prompt per line)${recipeFile ? "" : " and/or --recipe recipe.yml"}`,
		});
	}
	const tokenizer = await loadReportTokenizer(options.modelDir);
	const prompts = tokenizePrompts(wanted, tokenizer);
	prompts.forEach((p, i) => {
		if (p.tokenIds.length === 0) throw new MoeMergeError(`prompt ${i} ${JSON.stringify(p.text)} tokenizes to no tokens`, { hint: "remove the empty prompt" });
	});
	const engine = options.backend ? undefined : await ComputeEngine.create({ threads: options.threads });
	try {
		const routing = await runMoeForward(options.modelDir, spec, prompts.map((p) => p.tokenIds), {
			backend: options.backend ?? engine!,
			onLayer: options.onLayer,
			signal: options.signal,
		});
		const report = buildReport({
			tool: `moe-merge ${VERSION}`,
			modelPath: options.modelLabel ?? options.modelDir,
			modelType: spec.arch.modelType,
			layers: spec.dense.layers,
			experts: spec.experts,
			expertsPerToken: spec.topK,
			expertNames: recipe?.experts.map((e) => e.source.text),
			prompts,
			routing,
			decode: (ids) => tokenizer.decode(ids),
		});
		const files = options.outputDir
			? await writeReportFiles(options.outputDir, [
				{ name: REPORT_JSON, text: `${JSON.stringify(report)}\n` },
				{ name: REPORT_HTML, text: renderReportHtml(report) },
			])
			: [];
		return { report, recipeFile, files, seconds: (performance.now() - started) / 1000 };
	} finally {
		await engine?.close();
	}
}

/** A merged folder's lock lists every file in it: report files written there would make `verify` fail. */
async function refuseLockedModelFolder(modelDir: string, outputDir: string): Promise<void> {
	const real = (dir: string) => realpath(dir).catch(() => resolve(dir));
	if ((await real(modelDir)) !== (await real(outputDir))) return;
	if (!(await access(join(modelDir, LOCK_FILE_NAME)).then(() => true, () => false))) return;
	throw new OutputError(`${outputDir}: will not write the report into the model folder: its ${LOCK_FILE_NAME} does not list report.json and report.html, so \`moe-merge verify\` would reject the folder`, {
		file: outputDir,
		hint: "write it beside the model (-o <name>-report, the default), or merge with --report to have it inside the folder and its lock",
	});
}

async function findRecipeCopy(dir: string): Promise<string | undefined> {
	for (const name of RECIPE_COPIES) {
		const file = join(dir, name);
		if (await access(file).then(() => true, () => false)) return file;
	}
	return undefined;
}

/** The model's own tokenizer, which the report needs: also checked on the base model before a merge with --report. */
export async function loadReportTokenizer(dir: string): Promise<GateTokenizer> {
	return GateTokenizer.load(dir).catch((error: unknown) => {
		if (!(error instanceof MoeMergeError)) throw error;
		throw new MoeMergeError(`${error.message.split(";")[0]}: the report tokenizes its prompts with the model's own tokenizer`, {
			file: error.file,
			cause: error,
			hint: "run the report on a model folder with its tokenizer files (tokenizer.json, tokenizer_config.json)",
		});
	});
}
