import { applyLora } from "../merge/run-apply-lora.js";
import { namesHubRepo } from "../merge/apply-lora-inputs.js";
import { describeInterrupted } from "../resume/abandoned-partials.js";
import { describeResume } from "./merge-command.js";
import { preparePush } from "../hub/push-to-hub.js";
import { dtypeOfTorchName } from "../safetensors/index.js";
import { describePush, pushFinishedOutput } from "./push-command.js";
import { runCommand } from "./run-command.js";

export interface ApplyLoraCliOptions {
	output: string;
	overwrite?: boolean;
	outShardSize?: number;
	dtype?: "float32" | "float16" | "bfloat16";
	locked?: boolean;
	threads?: number;
	pushToHub?: string;
	private?: boolean;
	revision?: string;
	resume?: boolean;
	json?: boolean;
	verbose?: boolean;
}

/** `moe-merge apply-lora <model> <adapter...> -o <out>`: a thin layer over applyLora. */
export async function runApplyLoraCommand(model: string, adapters: string[], options: ApplyLoraCliOptions): Promise<void> {
	await runCommand(options, "interrupted", async (run) => {
		const { signal } = run;
		// A push that cannot happen (no token, read-only token, offline) is refused before anything is written.
		const hub = options.pushToHub || namesHubRepo([model, ...adapters]) ? await run.hub() : undefined;
		const target = options.pushToHub ? await preparePush(options.pushToHub, hub) : undefined;
		let lastLine = 0;
		const result = await applyLora({
			model,
			adapters,
			outputDir: options.output,
			overwrite: options.overwrite,
			shardSize: options.outShardSize,
			dtype: options.dtype && dtypeOfTorchName(options.dtype),
			locked: options.locked,
			threads: options.threads,
			hub,
			signal,
			resume: options.resume,
			command: { cwd: process.cwd(), argv: process.argv.slice(2) },
			// A scheduler's SIGTERM (then SIGKILL) or a Ctrl-C: what is complete stays, for --resume.
			keepOnAbort: true,
			onResume: (resumed) => {
				if (!options.json) process.stderr.write(`${describeResume(resumed, options.output)}\n`);
			},
			repoId: target?.repo,
			onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
			onProgress: (p) => {
				// Plain lines at most every 10 %: apply-lora's output is read by people and CI logs alike.
				const tenth = Math.floor((p.bytesDone / Math.max(1, p.bytesTotal)) * 10);
				if (!options.json && tenth > lastLine) {
					lastLine = tenth;
					process.stderr.write(`${tenth * 10}% (${p.tensorsDone}/${p.tensorsTotal} tensors)\n`);
				}
			},
		}).catch(async (error) => {
			const interrupted = run.interruptedBy();
			if (interrupted) {
				const { message, hint } = await describeInterrupted(options.output, interrupted);
				run.setInterruptMessage(message, hint);
			}
			throw error;
		});
		run.transfers.stop();
		const push = target ? await pushFinishedOutput(run, result.outputDir, target, hub, options) : undefined;
		run.transfers.stop();
		if (options.json) process.stdout.write(`${JSON.stringify({ ...result, ...(push && { push }) }, null, 2)}\n`);
		else {
			process.stdout.write(`wrote ${result.outputDir}: ${result.editedTensors} of ${result.tensors} tensors changed by ${adapters.length} adapter(s), ${result.shards.length} shard(s), ${result.seconds.toFixed(1)} s\n`);
			if (push) process.stdout.write(`${describePush(push)}\n`);
		}
	});
}
