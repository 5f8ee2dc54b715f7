/** The routing report in the CLI: layer progress, the printed summary, and the merge's `--report`. */
import { MoeMergeError } from "../errors.js";
import { formatSummary } from "../report/terminal-summary.js";
import { type ReportOptions, type ReportResult, runReport } from "../report/run-report.js";

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

/** `moe-merge recipe.yml out --report`: the report of the fresh output, with the recipe's prompts; its summary for --json. */
export async function runReportAfterMerge(
	recipeFile: string,
	outputDir: string,
	options: { threads?: number; json?: boolean },
	signal: AbortSignal,
): Promise<{ files: string[]; routing_agreement: number | null; seconds: number }> {
	const progress = layerProgress(options.json);
	try {
		const result = await runReport({ modelDir: outputDir, recipeFile, outputDir, threads: options.threads, onLayer: progress.onLayer, signal }).catch((error) => {
			if (!(error instanceof MoeMergeError) || signal.aborted) throw error;
			throw new MoeMergeError(`${error.message}\nthe merged model is complete in ${outputDir}; only its report failed`, { hint: error.hint, file: error.file, cause: error });
		});
		progress.stop();
		if (!options.json) printReport(result, false);
		return { files: result.files, routing_agreement: result.report.routing_agreement, seconds: result.seconds };
	} finally {
		progress.stop();
	}
}
