import { MoeMergeError } from "../errors.js";
import { runMerge } from "../merge/run-merge.js";
import { loadRecipe } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import type { MergeCliOptions } from "./program.js";
import { createProgressReporter } from "./progress-reporter.js";
import { EXIT_OK, describeError, errorToJson } from "./report-error.js";

/** Picks the output folder from the argument or -o, refusing two different ones or none. */
export function outputDirOf(output: string | undefined, options: MergeCliOptions): string {
	if (output && options.output && output !== options.output) {
		throw new MoeMergeError(`two output folders given: ${output} and -o ${options.output}`);
	}
	const dir = output ?? options.output;
	if (!dir) throw new MoeMergeError("no output folder given", { hint: "moe-merge recipe.yml OUTPUT_DIR (or -o OUTPUT_DIR)" });
	return dir;
}

export async function runMergeCommand(recipeFile: string, output: string | undefined, options: MergeCliOptions): Promise<void> {
	const err = process.stderr;
	const progress = createProgressReporter(err, options.json ? "quiet" : "auto");
	const abort = new AbortController();
	// Stays installed until the process exits: a second Ctrl-C must not kill the clean-up.
	const onSignal = () => abort.abort(new MoeMergeError("interrupted; the partial output was removed"));
	process.on("SIGINT", onSignal);
	process.on("SIGTERM", onSignal);
	try {
		const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
		const result = await runMerge(recipe, {
			outputDir: outputDirOf(output, options),
			overwrite: options.overwrite,
			shardSize: options.outShardSize,
			layout: options.layout,
			seed: options.randomSeed,
			threads: options.threads,
			copyTokenizer: options.copyTokenizer,
			signal: abort.signal,
			onProgress: (p) => progress.update(p),
			onPlan: (plan) => {
				if (options.json) return;
				for (const w of plan.warnings) err.write(`warning: ${w}\n`);
				err.write(
					`${plan.architecture.displayName}, ${plan.experts.length} experts, ${plan.tensors.length} tensors, ${formatBytes(plan.fileBytes)} in ${plan.shards.length} shard(s), gate seed ${plan.seed}\n`,
				);
			},
		});
		progress.stop();
		if (options.json) {
			process.stdout.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
		} else {
			const rate = result.bytes / 1e9 / Math.max(result.seconds, 1e-3);
			process.stdout.write(`wrote ${result.outputDir} (${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s, ${rate.toFixed(2)} GB/s)\n`);
		}
		process.exitCode = EXIT_OK;
	} catch (error) {
		progress.stop();
		const reason = abort.signal.aborted ? abort.signal.reason : error;
		reportFailure(reason, options);
		if (abort.signal.aborted) process.exitCode = 130;
	}
}

export function reportFailure(error: unknown, options: { json?: boolean; verbose?: boolean }): void {
	const { text, exitCode } = describeError(error, options.verbose === true);
	if (options.json) process.stdout.write(`${JSON.stringify(errorToJson(error), null, 2)}\n`);
	process.stderr.write(`${text}\n`);
	process.exitCode = exitCode;
}
