/** `moe-merge report <model-dir|org/name>`: run the routing report on any MoE checkpoint and print its summary. */
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { runReport } from "../report/run-report.js";
import { layerProgress, printReport } from "./report-after-merge.js";
import { resolveModelArgument } from "./model-argument.js";
import { runCommand } from "./run-command.js";

export interface ReportCliOptions {
	recipe?: string;
	prompts?: string;
	output?: string;
	threads?: number;
	json?: boolean;
	verbose?: boolean;
}

export function addReportCommand(program: Command, threadsArg: (text: string) => number): void {
	program
		.command("report <model>")
		.description("run prompts through a merged MoE model (folder or Hub org/name) and report, per layer and token, where the router sends them")
		.option("--recipe <file>", "the recipe whose prompts to run (default: the recipe copy inside the model folder)")
		.option("--prompts <file>", "extra prompts, one per line")
		.option("-o, --output <dir>", "where report.json and report.html go (default: ./<model name>-report)")
		.option("--threads <n>", "threads of the forward pass (default: one per core)", threadsArg)
		.option("--json", "print report.json on stdout instead of the summary")
		.option("--verbose", "print stack traces with errors")
		.action((model: string, options: ReportCliOptions) => runReportCommand(model, options));
}

async function runReportCommand(model: string, options: ReportCliOptions): Promise<void> {
	const progress = layerProgress(options.json);
	await runCommand(options, "interrupted; no report was written", async (run) => {
		try {
			const { ref, resolved } = await resolveModelArgument(model, run, "a report needs a merged MoE model folder or Hub repo");
			const result = await runReport({
				modelDir: resolved.dir,
				modelLabel: ref.kind === "hub" ? ref.text : resolved.dir,
				recipeFile: options.recipe,
				promptsFile: options.prompts,
				// Never into the model folder: a merged folder's lock (moe-merge verify) and a Hub cache snapshot must not change.
				outputDir: options.output ?? `${basename(ref.kind === "hub" ? ref.repo : resolve(resolved.dir))}-report`,
				threads: options.threads,
				onLayer: progress.onLayer,
				signal: run.signal,
			});
			progress.stop();
			printReport(result, options.json);
		} finally {
			progress.stop();
		}
	});
}
