import { applyLora } from "../lora/apply-lora.js";
import { runCommand } from "./run-command.js";

export interface ApplyLoraCliOptions {
	output: string;
	overwrite?: boolean;
	outShardSize?: number;
	dtype?: "float32" | "float16" | "bfloat16";
	locked?: boolean;
	threads?: number;
	json?: boolean;
	verbose?: boolean;
}

/** `moe-merge apply-lora <model> <adapter...> -o <out>`: a thin layer over applyLora. */
export async function runApplyLoraCommand(model: string, adapters: string[], options: ApplyLoraCliOptions): Promise<void> {
	await runCommand(options, "interrupted: nothing was written (the partial output was removed)", async ({ signal }) => {
		let lastLine = 0;
		const result = await applyLora({
			model,
			adapters,
			outputDir: options.output,
			overwrite: options.overwrite,
			shardSize: options.outShardSize,
			dtype: options.dtype && ({ float32: "F32", float16: "F16", bfloat16: "BF16" } as const)[options.dtype],
			locked: options.locked,
			threads: options.threads,
			signal,
			onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
			onProgress: (p) => {
				// Plain lines at most every 10 %: apply-lora's output is read by people and CI logs alike.
				const tenth = Math.floor((p.bytesDone / Math.max(1, p.bytesTotal)) * 10);
				if (!options.json && tenth > lastLine) {
					lastLine = tenth;
					process.stderr.write(`${tenth * 10}% (${p.tensorsDone}/${p.tensorsTotal} tensors)\n`);
				}
			},
		});
		if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
		else process.stdout.write(`wrote ${result.outputDir}: ${result.editedTensors} of ${result.tensors} tensors changed by ${adapters.length} adapter(s), ${result.shards.length} shard(s), ${result.seconds.toFixed(1)} s\n`);
	});
}
