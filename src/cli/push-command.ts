import type { Command } from "commander";
import { MoeMergeError } from "../errors.js";
import type { HubAccess } from "../hub/hub-context.js";
import { HubError } from "../hub/hub-error.js";
import type { PushTarget } from "../hub/push-access.js";
import { type PushResult, pushToHub } from "../hub/push-to-hub.js";
import { formatBytes } from "../util/size.js";
import { type CommandRun, runCommand } from "./run-command.js";

export interface PushCliOptions {
	private?: boolean;
	revision?: string;
	json?: boolean;
	verbose?: boolean;
}

/** `--push-to-hub` and friends, for the merge command. */
export function addHubMergeOptions(command: Command): Command {
	return command
		.option("--push-to-hub <repo>", "after the merge, upload the output to this Hub repo (org/name, or name for your account)")
		.option("--private", "create the pushed repo private (an existing repo keeps its visibility)")
		.option("--revision <branch>", "branch to push to (created when missing); default main")
		.option("--locked", "refuse to merge if a source resolves differently from <recipe>.lock.json beside the recipe");
}

export function addPushCommand(program: Command): void {
	program
		.command("push <dir> <repo>")
		.description("upload a merged model folder to a Hub repo in one commit (creates the repo; an interrupted push resumes)")
		.option("--private", "create the repo private (an existing repo keeps its visibility)")
		.option("--revision <branch>", "branch to push to (created when missing); default main")
		.option("--json", "print a machine-readable JSON summary on stdout (no progress)")
		.option("--verbose", "print stack traces with errors")
		.action((dir: string, repo: string, options: PushCliOptions) => runPushCommand(dir, repo, options));
}

/**
 * Uploads a finished output folder after the command that wrote it (merge, apply-lora); a failure says
 * where the output is and how to push it later.
 */
export async function pushFinishedOutput(run: CommandRun, dir: string, target: PushTarget, hub: HubAccess | undefined, options: { private?: boolean; revision?: string }, what = "the output"): Promise<PushResult> {
	run.setInterruptMessage(`interrupted; ${what} is in ${dir}: \`moe-merge push ${dir} ${target.repo}\` resumes the upload`);
	return pushToHub(dir, target.repo, { ...hub, private: options.private, branch: options.revision, target }).catch((error) => {
		if (!(error instanceof MoeMergeError)) throw error;
		throw new HubError(`${error.message}\n${what} is in ${dir}`, {
			hint: `${error.hint ? `${error.hint}; ` : ""}push it with \`moe-merge push ${dir} ${target.repo}\``,
		});
	});
}

export function describePush(result: PushResult): string {
	const reused = result.reusedFiles.length > 0 ? `, ${result.reusedFiles.length} already on the Hub` : "";
	return `pushed ${result.files.length} files (${formatBytes(result.bytes)}${reused}) to ${result.url} (commit ${result.commit})`;
}

async function runPushCommand(dir: string, repo: string, options: PushCliOptions): Promise<void> {
	await runCommand(options, "interrupted; run the same push again to resume (files already uploaded are skipped)", async (run) => {
		const result = await pushToHub(dir, repo, { ...(await run.hub()), private: options.private, branch: options.revision });
		run.transfers.stop();
		process.stdout.write(options.json ? `${JSON.stringify({ ok: true, push: result }, null, 2)}\n` : `${describePush(result)}\n`);
	});
}
