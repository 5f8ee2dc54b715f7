import { MoeMergeError } from "../errors.js";
import { runMerge } from "../merge/run-merge.js";
import type { ResumeOutcome } from "../merge/resume-partial.js";
import { describeAbandoned, findAbandonedPartials } from "../output/abandoned-partials.js";
import { loadRecipe } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import type { MergeCliOptions } from "./program.js";
import { createProgressReporter } from "./progress-reporter.js";
import { describePush, pushFinishedOutput } from "./push-command.js";
import { type PushResult, preparePush } from "../hub/push-to-hub.js";
import { outputDirOf } from "./output-dir.js";
import { reportBeforeCommit } from "./report-after-merge.js";
import { runCommand } from "./run-command.js";

/** What --resume found: the folder continued and the shards kept, or nothing. */
function describeResume(resumed: ResumeOutcome, outputDir: string): string {
	const removed = resumed.removedEmpty.map((path) => `removed ${path}: it was killed before it held anything\n`).join("");
	if (!resumed.from) return `${removed}nothing to resume beside ${outputDir}: merging from the start`;
	const lines = [`${removed}resuming ${resumed.from} (left by process ${resumed.pid}): ${resumed.kept.length} of ${resumed.shards} shard(s) complete and sha256-checked, kept`];
	for (const r of resumed.rejected) lines.push(`${r.name} is written again: ${r.reason}`);
	return lines.join("\n");
}

export async function runMergeCommand(recipeFile: string, output: string | undefined, options: MergeCliOptions): Promise<void> {
	const err = process.stderr;
	const progress = createProgressReporter(err, options.json || options.quiet ? "quiet" : "auto");
	await runCommand(options, "interrupted; the partial output was removed", async (run) => {
		const { transfers } = run;
		try {
			const outputDir = outputDirOf(output, options.output, true) as string;
			if (options.report && options.copyTokenizer === false) {
				throw new MoeMergeError("--report needs the tokenizer in the output, and --no-copy-tokenizer leaves it out", { hint: "drop --no-copy-tokenizer, or run `moe-merge report` later on a folder with the tokenizer" });
			}
			const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
			// With --resume, the merge itself takes over a resumable folder (or says why it cannot).
			const abandoned = await findAbandonedPartials(outputDir);
			for (const partial of abandoned) if (!options.resume || !(partial.record || partial.empty)) err.write(`warning: ${describeAbandoned(partial)}\n`);
			// A push needs the Hub whatever the recipe names; it is opened once for the merge and the push.
			const hub = options.pushToHub ? await run.hub() : await run.hubFor(recipe);
			// A push that cannot happen (no token, read-only token, offline) is refused before merging.
			const target = options.pushToHub ? await preparePush(options.pushToHub, hub) : undefined;
			const routing = options.report ? reportBeforeCommit(recipeFile, outputDir, options, run.signal) : undefined;
			const result = await runMerge(recipe, {
				outputDir,
				repoId: target?.repo,
				beforeCommit: routing?.beforeCommit,
				overwrite: options.overwrite,
				shardSize: options.outShardSize,
				layout: options.layout,
				seed: options.randomSeed,
				threads: options.threads,
				training: { outputRouterLogits: options.outputRouterLogits, routerAuxLossCoef: options.routerAuxLossCoef },
				onGateProgress: (p) => {
					transfers.stop();
					progress.gates(p);
				},
				copyTokenizer: options.copyTokenizer,
				signal: run.signal,
				hub,
				locked: options.locked,
				resume: options.resume,
				command: { cwd: process.cwd(), argv: process.argv.slice(2) },
				onResume: (resumed) => {
					if (options.json) return;
					// Called once the kept shards are checked, which runs while the others are written.
					const text = `${describeResume(resumed, outputDir)}\n`;
					if (options.quiet) err.write(text);
					else progress.log(text);
				},
				// Like npm and package-lock.json: the CLI keeps the lock beside the recipe up to date.
				recipeLock: true,
				onProgress: (p) => {
					transfers.stop();
					progress.writing(p);
				},
				onGates: (_, warnings) => {
					if (options.json) return;
					for (const w of warnings) progress.log(`warning: ${w}\n`);
				},
				onPlan: (plan) => {
					transfers.stop();
					if (options.json) return;
					for (const w of plan.warnings) err.write(`warning: ${w}\n`);
					err.write(
						`${plan.architecture.displayName}, ${plan.experts.length} experts, ${plan.tensors.length} tensors, ${formatBytes(plan.fileBytes)} in ${plan.shards.length} shard(s), gate seed ${plan.seed}\n`,
					);
				},
			});
			progress.stop();
			// Resumable folders of other jobs, left alone by this one, are still there to report.
			if (options.resume) for (const partial of await findAbandonedPartials(outputDir)) if (partial.record) err.write(`warning: ${describeAbandoned(partial)}\n`);
			const report = routing?.finish();
			let push: PushResult | undefined;
			if (target) {
				push = await pushFinishedOutput(run, result.outputDir, target, hub, options);
				transfers.stop();
			}
			if (options.json) {
				process.stdout.write(`${JSON.stringify({ ok: true, ...result, ...(push && { push }), ...(report && { report }) }, null, 2)}\n`);
			} else {
				const rate = formatBytes(result.bytes / Math.max(result.seconds, 1e-3));
				process.stdout.write(`wrote ${result.outputDir} (${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s, ${rate}/s)\n`);
				if (push) process.stdout.write(`${describePush(push)}\n`);
			}
		} finally {
			progress.stop();
		}
	});
}
