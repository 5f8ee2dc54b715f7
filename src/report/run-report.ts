/**
 * The routing report, end to end: the checkpoint's config, the prompts (the recipe's, then extra ones)
 * tokenized with the model's tokenizer, one streamed MoE forward pass over all of them, the derived
 * figures, and report.json / report.html written into `outputDir`.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { MoeMergeError } from "../errors.js";
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
	/** Where report.json and report.html go; nothing is written when absent. */
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
	const spec = await readMoeSpec(options.modelDir);
	const recipeFile = options.recipeFile ?? (await findRecipeCopy(options.modelDir));
	// Reading prompts only: experts that are all one model are fine here.
	const recipe: Recipe | undefined = recipeFile ? await loadRecipe(recipeFile, { allowSameModelExperts: true }) : undefined;
	if (recipe && recipe.experts.length !== spec.experts) {
		throw new MoeMergeError(`${recipeFile}: the recipe has ${recipe.experts.length} experts, the model ${spec.experts}; is it the recipe of this model?`, { file: recipeFile });
	}
	const wanted = [...(recipe ? recipePrompts(recipe) : []), ...(options.promptsFile ? (await readPromptsFile(options.promptsFile)).map((prompt) => ({ prompt })) : [])];
	if (wanted.length === 0) {
		throw new MoeMergeError(`no prompts to run: ${options.modelDir} holds no recipe copy (${RECIPE_COPIES.join(", ")}) and no --prompts file was given`, {
			hint: "pass --recipe recipe.yml and/or --prompts prompts.txt (one prompt per line)",
		});
	}
	const tokenizer = await GateTokenizer.load(options.modelDir).catch((error: unknown) => {
		if (!(error instanceof MoeMergeError)) throw error;
		throw new MoeMergeError(`${error.message.split(";")[0]}: the report tokenizes its prompts with the model's own tokenizer`, {
			file: error.file,
			cause: error,
			hint: "run the report on a model folder with its tokenizer files (tokenizer.json, tokenizer_config.json)",
		});
	});
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

async function findRecipeCopy(dir: string): Promise<string | undefined> {
	for (const name of RECIPE_COPIES) {
		const file = join(dir, name);
		if (await access(file).then(() => true, () => false)) return file;
	}
	return undefined;
}
