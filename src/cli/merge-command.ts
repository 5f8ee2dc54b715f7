import { MoeMergeError } from "../errors.js";
import type { HubAccess } from "../hub/hub-context.js";
import type { PushTarget } from "../hub/push-access.js";
import { type PushResult, preparePush } from "../hub/push-to-hub.js";
import { type MergeOptions, type MergeResult, runMerge } from "../merge/run-merge.js";
import type { WrittenGguf } from "../merge/merge-gguf.js";
import { loadRecipe } from "../recipe/index.js";
import { type AbandonedPartial, describeAbandoned, describeInterrupted, findAbandonedPartials } from "../resume/abandoned-partials.js";
import type { ResumeOutcome } from "../resume/resume-partial.js";
import { removeCommand } from "../util/shell-words.js";
import { formatBytes } from "../util/size.js";
import { outputDirOf } from "./output-dir.js";
import { planOptionsOf } from "./plan-options.js";
import type { MergeCliOptions } from "./merge-cli-options.js";
import { type MergeProgressReporter, createProgressReporter } from "./progress-reporter.js";
import { describePush, pushFinishedOutput } from "./push-command.js";
import { reportBeforeCommit } from "./report-after-merge.js";
import { type CommandRun, runCommand } from "./run-command.js";
import { checkNoLocalCopyFlags, runStreamMergeCommand } from "./stream-merge-command.js";

/** `moe-merge recipe.yml out`: merge, then (when asked) push; the summary on stdout, progress and warnings on stderr. */
export async function runMergeCommand(recipeFile: string, output: string | undefined, options: MergeCliOptions): Promise<void> {
	const progress = createProgressReporter(process.stderr, options.json || options.quiet ? "quiet" : "auto");
	await runCommand(options, "interrupted", async (run) => {
		try {
			if (options.localCopy === false) {
				// From the Hub to the Hub, no output folder (stream-merge-command.ts).
				const repo = checkNoLocalCopyFlags(options, outputDirOf(output, options.output, false));
				const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
				return await runStreamMergeCommand(recipe, repo, options, run, mergeCallbacks(options, progress, run, "the Hub repo"));
			}
			const outputDir = outputDirOf(output, options.output, true) as string;
			checkMergeFlags(options);
			const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
			// With --resume, the merge itself takes over a resumable folder (or says why it cannot).
			await warnAbandoned(outputDir, (partial) => !options.resume || !(partial.record || partial.empty));
			// A push needs the Hub whatever the recipe names; it is opened once for the merge and the push.
			const hub = options.pushToHub ? await run.hub() : await run.hubFor(recipe);
			// A push that cannot happen (no token, read-only token, offline) is refused before merging.
			const target = options.pushToHub ? await preparePush(options.pushToHub, hub, options.revision) : undefined;
			const routing = options.report ? reportBeforeCommit(recipeFile, outputDir, options, run.signal) : undefined;
			const callbacks = mergeCallbacks(options, progress, run, outputDir);
			const result = await runMerge(recipe, {
				...planOptionsOf(options),
				...callbacks,
				onPlan: async (plan, keptShards) => {
					await routing?.checkPlan(plan);
					callbacks.onPlan?.(plan, keptShards);
				},
				outputDir,
				repoId: target?.repo,
				beforeCommit: routing?.beforeCommit,
				overwrite: options.overwrite,
				copyTokenizer: options.copyTokenizer,
				gguf: options.gguf,
				signal: run.signal,
				hub,
				locked: options.locked,
				resume: options.resume,
				command: { cwd: process.cwd(), argv: process.argv.slice(2) },
				// Like npm and package-lock.json: the CLI keeps the lock beside the recipe up to date.
				recipeLock: true,
				// A scheduler's SIGTERM (then SIGKILL) or a Ctrl-C: what is complete stays, for --resume.
				keepOnAbort: true,
			}).catch(async (error) => {
				const signal = run.interruptedBy();
				if (signal) {
					const { message, hint } = await describeInterrupted(outputDir, signal);
					run.setInterruptMessage(message, hint);
				}
				throw error;
			});
			progress.stop();
			// Folders of killed merges this one did not take over are still there: the summary names them.
			const leftovers = await findAbandonedPartials(outputDir);
			const report = routing?.finish();
			const push = target && hub ? await pushMerged(result, target, hub, options, run) : undefined;
			printSummary({ ...result, ...(leftovers.length > 0 && { leftovers: leftovers.map(({ path, bytes }) => ({ path, bytes, remove: removeCommand(path) })) }) }, options, push, report);
		} finally {
			progress.stop();
		}
	});
}

function checkMergeFlags(options: MergeCliOptions): void {
	if (options.report && options.copyTokenizer === false) {
		throw new MoeMergeError("--report needs the tokenizer in the output, and --no-copy-tokenizer leaves it out", { hint: "drop --no-copy-tokenizer, or run `moe-merge report` later on a folder with the tokenizer" });
	}
}

/** Warns of the folders killed merges left beside the output that `which` picks. */
async function warnAbandoned(outputDir: string, which: (partial: AbandonedPartial) => boolean): Promise<void> {
	for (const partial of await findAbandonedPartials(outputDir)) if (which(partial)) process.stderr.write(`warning: ${describeAbandoned(partial)}\n`);
}

/** What the merge reports while it runs: the plan, gate and writing progress, warnings, what --resume found. */
function mergeCallbacks(options: MergeCliOptions, progress: MergeProgressReporter, run: CommandRun, outputDir: string): Partial<MergeOptions> {
	const err = process.stderr;
	return {
		onGateProgress: (p) => {
			run.transfers.stop();
			progress.gates(p);
		},
		onProgress: (p) => {
			run.transfers.stop();
			progress.writing(p);
		},
		onResume: (resumed) => {
			if (options.json) return;
			// Called once the kept shards are checked, which runs while the others are written.
			const text = `${describeResume(resumed, outputDir)}\n`;
			if (options.quiet) err.write(text);
			else progress.log(text);
		},
		onGates: (_, warnings) => {
			if (options.json) return;
			for (const w of warnings) progress.log(`warning: ${w}\n`);
		},
		onPlan: (plan) => {
			run.transfers.stop();
			if (options.json) return;
			for (const w of plan.warnings) err.write(`warning: ${w}\n`);
			err.write(`${plan.architecture.displayName}, ${plan.experts.length} experts, ${plan.tensors.length} tensors, ${formatBytes(plan.fileBytes)} in ${plan.shards.length} shard(s), gate seed ${plan.seed}\n`);
		},
		onGgufPlan: (files) => {
			if (options.json) return;
			for (const f of files) for (const w of f.plan.warnings) err.write(`warning: GGUF: ${w}\n`);
			err.write(`GGUF from the same stream: ${files.map((f) => `${f.fileName} (${formatBytes(f.layout.fileBytes)})`).join(", ")}\n`);
		},
	};
}

/** What --resume found: the folder continued and the shards kept, or nothing. */
export function describeResume(resumed: ResumeOutcome, outputDir: string): string {
	const removed = resumed.removedEmpty.map((path) => `removed ${path}: it was killed before it held anything\n`).join("");
	if (!resumed.from) return `${removed}nothing to resume beside ${outputDir}: merging from the start`;
	const lines = [`${removed}resuming ${resumed.from} (left by process ${resumed.pid}): ${resumed.kept.length} of ${resumed.shards} shard(s) complete and sha256-checked, kept`];
	for (const r of resumed.rejected) lines.push(`${r.name} is written again: ${r.reason}`);
	return lines.join("\n");
}

/** A GGUF file of the merge: written, or (resuming) kept from the interrupted merge or written again and why. */
function describeGguf(g: WrittenGguf): string {
	const what = `${g.file} (${formatBytes(g.bytes)}, sha256 ${g.sha256})`;
	if (!g.resumed) return `wrote ${what}`;
	return g.resumed.kept ? `kept ${what}: complete from the interrupted merge, size, header and sha256 checked` : `wrote ${what} again: ${g.resumed.reason}`;
}

/** `--push-to-hub`: a failed push still says where the merged model is and how to push it again. */
async function pushMerged(result: MergeResult, target: PushTarget, hub: HubAccess, options: MergeCliOptions, run: CommandRun): Promise<PushResult> {
	const push = await pushFinishedOutput(run, result.outputDir, target, hub, options, "the merged model");
	run.transfers.stop();
	return push;
}

/** The merge's result and, beside it, what killed merges left there (with the command that removes each). */
type MergeSummary = MergeResult & { leftovers?: { path: string; bytes: number; remove: string }[] };

function printSummary(result: MergeSummary, options: MergeCliOptions, push: PushResult | undefined, report: object | undefined): void {
	if (options.json) {
		process.stdout.write(`${JSON.stringify({ ok: true, ...result, ...(push && { push }), ...(report && { report }) }, null, 2)}\n`);
		return;
	}
	const rate = formatBytes(result.bytes / Math.max(result.seconds, 1e-3));
	process.stdout.write(`wrote ${result.outputDir} (${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s, ${rate}/s)\n`);
	for (const g of result.gguf ?? []) process.stdout.write(`${describeGguf(g)}\n`);
	for (const left of result.leftovers ?? []) {
		process.stdout.write(`still beside it: ${left.path} (${formatBytes(left.bytes)}), left by an interrupted merge; remove it with: ${left.remove}\n`);
	}
	if (push) process.stdout.write(`${describePush(push)}\n`);
}
