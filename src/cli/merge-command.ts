import { MoeMergeError } from "../errors.js";
import { runMerge } from "../merge/run-merge.js";
import { loadRecipe } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import type { MergeCliOptions } from "./program.js";
import { createGateProgressReporter, createProgressReporter } from "./progress-reporter.js";
import { cliHubOptions, describePush } from "./push-command.js";
import { HubError } from "../hub/hub-error.js";
import { type PushResult, preparePush, pushToHub } from "../hub/push-to-hub.js";
import { EXIT_OK, describeError, errorToJson } from "./report-error.js";
import { reportBeforeCommit } from "./report-after-merge.js";

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
	const gateProgress = createGateProgressReporter(err, options.json ? "quiet" : "auto");
	const abort = new AbortController();
	// Stays installed until the process exits: a second Ctrl-C must not kill the clean-up.
	let pushing: { dir: string; repo: string } | undefined;
	const onSignal = () =>
		abort.abort(
			new MoeMergeError(
				pushing
					? `interrupted; the merged model is in ${pushing.dir}: \`moe-merge push ${pushing.dir} ${pushing.repo}\` resumes the upload`
					: "interrupted; the partial output was removed",
			),
		);
	process.on("SIGINT", onSignal);
	process.on("SIGTERM", onSignal);
	const { hub, transfers } = cliHubOptions(options.json, abort.signal);
	try {
		const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
		// A push that cannot happen (no token, read-only token, offline) is refused before merging.
		const target = options.pushToHub ? await preparePush(options.pushToHub, hub) : undefined;
		const outputDir = outputDirOf(output, options);
		if (options.report && options.copyTokenizer === false) {
			throw new MoeMergeError("--report needs the tokenizer in the output, and --no-copy-tokenizer leaves it out", { hint: "drop --no-copy-tokenizer, or run `moe-merge report` later on a folder with the tokenizer" });
		}
		const routing = options.report ? reportBeforeCommit(recipeFile, outputDir, options, abort.signal) : undefined;
		const result = await runMerge(recipe, {
			outputDir,
			repoId: target?.repo,
			beforeCommit: routing?.beforeCommit,
			overwrite: options.overwrite,
			shardSize: options.outShardSize,
			layout: options.layout,
			seed: options.randomSeed,
			threads: options.threads,
			onGateProgress: (p) => {
				transfers.stop();
				gateProgress.update(p);
			},
			copyTokenizer: options.copyTokenizer,
			signal: abort.signal,
			hub,
			locked: options.locked,
			// Like npm and package-lock.json: the CLI keeps the lock beside the recipe up to date.
			recipeLock: true,
			onProgress: (p) => {
				transfers.stop();
				progress.update(p);
			},
			onPlan: (plan) => {
				transfers.stop();
				gateProgress.stop();
				if (options.json) return;
				for (const w of plan.warnings) err.write(`warning: ${w}\n`);
				err.write(
					`${plan.architecture.displayName}, ${plan.experts.length} experts, ${plan.tensors.length} tensors, ${formatBytes(plan.fileBytes)} in ${plan.shards.length} shard(s), gate seed ${plan.seed}\n`,
				);
			},
		});
		progress.stop();
		const report = routing?.finish();
		let push: PushResult | undefined;
		if (target) {
			pushing = { dir: result.outputDir, repo: target.repo };
			push = await pushToHub(result.outputDir, target.repo, { ...hub, private: options.private, branch: options.revision }).catch((error) => {
				if (!(error instanceof MoeMergeError)) throw error;
				throw new HubError(`${error.message}\nthe merged model is in ${result.outputDir}`, {
					hint: `${error.hint ? `${error.hint}; ` : ""}push it with \`moe-merge push ${result.outputDir} ${target.repo}\``,
				});
			});
			transfers.stop();
		}
		if (options.json) {
			process.stdout.write(`${JSON.stringify({ ok: true, ...result, ...(push && { push }), ...(report && { report }) }, null, 2)}\n`);
		} else {
			const rate = formatBytes(result.bytes / Math.max(result.seconds, 1e-3));
			process.stdout.write(`wrote ${result.outputDir} (${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s, ${rate}/s)\n`);
			if (push) process.stdout.write(`${describePush(push)}\n`);
		}
		process.exitCode = EXIT_OK;
	} catch (error) {
		progress.stop();
		transfers.stop();
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
