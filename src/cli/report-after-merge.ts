/** The routing report in the CLI: layer progress, the printed summary, and the merge's `--report`. */
import { readFile, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { MoeMergeError } from "../errors.js";
import { withRoutingSection } from "../output/model-card.js";
import { cardRouting } from "../report/card-routing.js";
import { formatSummary } from "../report/terminal-summary.js";
import { type ReportOptions, type ReportResult, loadReportTokenizer, runReport } from "../report/run-report.js";
import type { MergePlan } from "../merge/plan-merge.js";

/** Layer progress on a terminal only: a report takes seconds to a minute. */
export function layerProgress(json: boolean | undefined): { onLayer: ReportOptions["onLayer"]; stop(): void } {
	const err = process.stderr;
	if (json || !err.isTTY) return { onLayer: undefined, stop() {} };
	return {
		onLayer: (done, layers) => err.write(`\rreport: layer ${done}/${layers}`),
		stop: () => err.write("\r\x1b[K"),
	};
}

export function printReport(result: ReportResult, json: boolean | undefined): void {
	if (json) {
		process.stdout.write(`${JSON.stringify({ ok: true, files: result.files, seconds: result.seconds, report: result.report })}\n`);
		return;
	}
	process.stdout.write(formatSummary(result.report));
	if (result.files.length > 0) process.stdout.write(`wrote ${result.files.join(", ")} (${result.seconds.toFixed(1)} s)\n`);
}

/**
 * `moe-merge recipe.yml out --report`: the report runs on the complete staging folder, before the lock
 * is written and the folder renamed into place, so report.json, report.html and the card's routing
 * section are part of the output (and its lock), and a failed report leaves no output behind.
 */
export function reportBeforeCommit(recipeFile: string, outputDir: string, options: { threads?: number; json?: boolean }, signal: AbortSignal) {
	let result: ReportResult | undefined;
	return {
		/** Before anything is written: the output's tokenizer is the base model's, and the report cannot run without it. */
		async checkPlan(plan: MergePlan): Promise<void> {
			await loadReportTokenizer(plan.models[plan.base].dir).catch((error: MoeMergeError) => {
				throw new MoeMergeError(`routing report (--report): ${error.message}`, { hint: "merge without --report, or use a base model with tokenizer.json", file: error.file, cause: error });
			});
		},
		async beforeCommit(stagingDir: string): Promise<string[]> {
			const progress = layerProgress(options.json);
			try {
				result = await runReport({ modelDir: stagingDir, modelLabel: resolve(outputDir), recipeFile, outputDir: stagingDir, threads: options.threads, onLayer: progress.onLayer, signal });
			} catch (error) {
				if (!(error instanceof MoeMergeError) || signal.aborted) throw error;
				throw new MoeMergeError(`routing report (--report): ${error.message}`, { hint: error.hint, file: error.file, cause: error });
			} finally {
				progress.stop();
			}
			const card = join(stagingDir, "README.md");
			await writeFile(card, withRoutingSection(await readFile(card, "utf8"), cardRouting(result.report)));
			return result.files.map((f) => basename(f));
		},
		/** After the merge: the summary (terminal) or its figures (--json). */
		finish(): { files: string[]; routing_agreement: number | null; seconds: number } | undefined {
			if (!result) return undefined;
			if (!options.json) printReport(result, false);
			return { files: result.files.map((f) => join(outputDir, basename(f))), routing_agreement: result.report.routing_agreement, seconds: result.seconds };
		},
	};
}
