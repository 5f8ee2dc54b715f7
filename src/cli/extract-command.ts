/** `moe-merge extract <moe> --expert N -o <dir>`: one expert of an MoE (folder or Hub org/name) as a dense model. */
import { InvalidArgumentError, type Command } from "commander";
import { runExtract } from "../extract/run-extract.js";
import { DEFAULT_REVISION } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import { createProgressReporter } from "./progress-reporter.js";
import { resolveModelArgument } from "./model-argument.js";
import { runCommand } from "./run-command.js";

interface ExtractCliOptions {
	expert: number;
	output: string;
	sharedExpert?: boolean;
	overwrite?: boolean;
	outShardSize?: number;
	copyTokenizer: boolean;
	json?: boolean;
	quiet?: boolean;
	verbose?: boolean;
}

const indexArg = (text: string): number => {
	const n = Number(text);
	if (text.trim() === "" || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("expected an expert index (0, 1, ...)");
	return n;
};

export function addExtractCommand(program: Command, sizeArg: (text: string) => number): void {
	program
		.command("extract <moe>")
		.description("write one expert of an MoE (folder or Hub org/name) as a dense model: its attention path and expert N's MLP, config and tokenizer")
		.requiredOption("--expert <n>", "the routed expert to extract (0-based)", indexArg)
		.requiredOption("-o, --output <dir>", "output folder")
		.option("--shared-expert", "add the shared expert's MLP as a residual (DeepSeek MoE; refused for Qwen MoE's gated shared expert, which is not exact)")
		.option("--overwrite", "replace an existing non-empty output folder (only once the new one is complete)")
		.option("--out-shard-size <size>", "maximum size of each output shard: bytes, or 5GB, 500M ...", sizeArg)
		.option("--no-copy-tokenizer", "do not copy the tokenizer files")
		.option("--quiet", "no progress display")
		.option("--json", "print a machine-readable JSON summary on stdout (no progress)")
		.option("--verbose", "print stack traces with errors")
		.action((moe: string, options: ExtractCliOptions) => runExtractCommand(moe, options));
}

async function runExtractCommand(moe: string, options: ExtractCliOptions): Promise<void> {
	await runCommand(options, "interrupted; nothing was written (the partial folder is removed)", async (run) => {
		const { ref, resolved } = await resolveModelArgument(moe, run, "extract needs an MoE model folder or Hub repo");
		const progress = createProgressReporter(process.stderr, options.json || options.quiet ? "quiet" : "auto");
		try {
			const result = await runExtract(
				{ label: ref.text, dir: resolved.dir, ...(ref.kind === "hub" && { hub: { repo: ref.repo, revision: ref.revision ?? DEFAULT_REVISION, commit: resolved.commit } }) },
				{
					expert: options.expert,
					outputDir: options.output,
					sharedExpert: options.sharedExpert,
					overwrite: options.overwrite,
					copyTokenizer: options.copyTokenizer,
					shardSize: options.outShardSize,
					onProgress: (p) => progress.writing(p),
					signal: run.signal,
				},
			);
			progress.stop();
			if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
			else process.stdout.write(`wrote ${result.outputDir}: expert ${result.expert} of the ${result.architecture} as a dense ${result.modelType} model (${result.tensors} tensors, ${formatBytes(result.bytes)}, ${result.seconds.toFixed(1)} s)\n`);
		} finally {
			progress.stop();
		}
	});
}
