import { MoeMergeError } from "../errors.js";
import { preparePush } from "../hub/push-to-hub.js";
import type { MergeOptions } from "../merge/run-merge.js";
import { runStreamMerge } from "../merge/run-stream-merge.js";
import type { Recipe } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import type { MergeCliOptions } from "./merge-cli-options.js";
import { planOptionsOf } from "./plan-options.js";
import type { CommandRun } from "./run-command.js";

/** Refuses what `--no-local-copy` cannot do (yet), before anything is read. */
export function checkNoLocalCopyFlags(options: MergeCliOptions, outputDir: string | undefined): string {
	if (!options.pushToHub) throw new MoeMergeError("--no-local-copy needs --push-to-hub <repo>: without a local copy the Hub is where the model goes", { hint: "moe-merge recipe.yml --push-to-hub org/name --no-local-copy" });
	if (outputDir) throw new MoeMergeError(`--no-local-copy writes no output folder, but ${outputDir} was given`, { hint: "drop the output folder, or drop --no-local-copy to keep a local copy" });
	if (options.report) throw new MoeMergeError("--report is not available with --no-local-copy: the routing report runs the merged model, whose shards are not kept on disk", { hint: "run `moe-merge report` on a downloaded copy later, or merge with a local copy" });
	if (options.gguf?.length) throw new MoeMergeError("--gguf is not available with --no-local-copy yet: the GGUF file would need its own upload as it is written", { hint: "merge with a local copy, or run `moe-merge gguf org/name` on a machine with room for the model" });
	return options.pushToHub;
}

/**
 * `moe-merge recipe.yml --push-to-hub org/name --no-local-copy`: the merge streamed from the Hub to the
 * Hub (run-stream-merge.ts); the summary on stdout.
 */
export async function runStreamMergeCommand(recipe: Recipe, repo: string, options: MergeCliOptions, run: CommandRun, callbacks: Partial<MergeOptions>): Promise<void> {
	const hub = await run.hub();
	const target = await preparePush(repo, hub, options.revision);
	const result = await runStreamMerge(recipe, {
		...planOptionsOf(options),
		...callbacks,
		repo,
		target,
		hub,
		private: options.private,
		branch: options.revision,
		copyTokenizer: options.copyTokenizer,
		signal: run.signal,
		locked: options.locked,
		resume: options.resume,
		command: { cwd: process.cwd(), argv: process.argv.slice(2) },
		recipeLock: true,
		keepOnAbort: true,
	});
	run.transfers.stop();
	if (options.json) {
		process.stdout.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
		return;
	}
	const { readBytes, inputBytes } = result.transfer;
	process.stdout.write(`merged ${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s, streamed to ${result.url} (commit ${result.commit}); read ${formatBytes(readBytes)} of ${formatBytes(inputBytes)} of Hub weights with range requests\n`);
}
