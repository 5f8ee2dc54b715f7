import type { Command } from "commander";
import { MoeMergeError } from "../errors.js";
import type { HubOptions } from "../hub/hub-options.js";
import { type PushResult, pushToHub } from "../hub/push-to-hub.js";
import { type TransferReporter, createTransferReporter } from "./transfer-progress-bar.js";
import { formatBytes } from "../util/size.js";
import { EXIT_OK, describeError, errorToJson } from "./report-error.js";

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

/** Hub options for a CLI command: transfers drawn on stderr, warnings as lines. */
export function cliHubOptions(json: boolean | undefined, signal?: AbortSignal): { hub: HubOptions; transfers: TransferReporter } {
	const transfers = createTransferReporter(process.stderr, json ? "quiet" : "auto");
	return {
		transfers,
		hub: { onProgress: (p) => transfers.update(p), onWarning: (message) => process.stderr.write(`warning: ${message}\n`), signal },
	};
}

export function describePush(result: PushResult): string {
	const reused = result.reusedFiles.length > 0 ? `, ${result.reusedFiles.length} already on the Hub` : "";
	return `pushed ${result.files.length} files (${formatBytes(result.bytes)}${reused}) to ${result.url} (commit ${result.commit})`;
}

async function runPushCommand(dir: string, repo: string, options: PushCliOptions): Promise<void> {
	const abort = new AbortController();
	const onSignal = () => abort.abort(new MoeMergeError(`interrupted; run the same push again to resume (files already uploaded are skipped)`));
	process.on("SIGINT", onSignal);
	process.on("SIGTERM", onSignal);
	const { hub, transfers } = cliHubOptions(options.json, abort.signal);
	try {
		const result = await pushToHub(dir, repo, { ...hub, private: options.private, branch: options.revision });
		transfers.stop();
		process.stdout.write(options.json ? `${JSON.stringify({ ok: true, push: result }, null, 2)}\n` : `${describePush(result)}\n`);
		process.exitCode = EXIT_OK;
	} catch (error) {
		transfers.stop();
		const reason = abort.signal.aborted ? abort.signal.reason : error;
		const { text, exitCode } = describeError(reason, options.verbose === true);
		if (options.json) process.stdout.write(`${JSON.stringify(errorToJson(reason), null, 2)}\n`);
		process.stderr.write(`${text}\n`);
		process.exitCode = abort.signal.aborted ? 130 : exitCode;
	}
}
