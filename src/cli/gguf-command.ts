/** `moe-merge gguf <dir|org/name> [-o file] [--type t]`: a checkpoint as one GGUF file llama.cpp runs. */
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { convertToGguf } from "../gguf-convert/convert-to-gguf.js";
import { GGUF_TYPE_NAMES, type GgufTypeName, isGgufTypeName } from "../gguf/tensor-types.js";
import { resolveModelArgument } from "./model-argument.js";
import { runCommand } from "./run-command.js";

export interface GgufCliOptions {
	output?: string;
	type: GgufTypeName;
	name?: string;
	overwrite?: boolean;
	json?: boolean;
	verbose?: boolean;
}

export function ggufTypeArg(text: string): GgufTypeName {
	const type = text.toLowerCase();
	if (!isGgufTypeName(type)) throw new InvalidArgumentError(`expected one of ${GGUF_TYPE_NAMES.join(", ")}`);
	return type;
}

export function addGgufCommand(program: Command): void {
	program
		.command("gguf <model>")
		.description("convert a checkpoint (folder or Hub org/name: a merged MoE, mergekit-moe's output, or a dense Llama/Mistral/Qwen2/Qwen3) into a GGUF file for llama.cpp, Ollama and LM Studio")
		.option("-o, --output <file>", "the GGUF file (default: ./<model name>-<TYPE>.gguf)")
		.option("--type <type>", `tensor type: ${GGUF_TYPE_NAMES.join(", ")} (norms, biases and routers stay f32, as llama.cpp's converter keeps them)`, ggufTypeArg, "f16")
		.option("--name <name>", "general.name (default: the model's folder or repo name)")
		.option("--overwrite", "replace an existing file")
		.option("--json", "print the result as JSON on stdout")
		.option("--verbose", "print stack traces with errors")
		.action((model: string, options: GgufCliOptions) => runGgufCommand(model, options));
}

async function runGgufCommand(model: string, options: GgufCliOptions): Promise<void> {
	await runCommand(options, "interrupted; no GGUF file was written", async (run) => {
		const { ref, resolved } = await resolveModelArgument(model, run, "GGUF conversion needs a model folder or Hub repo");
		const name = options.name ?? basename(ref.kind === "hub" ? ref.repo : resolve(resolved.dir));
		const output = options.output ?? `${name}-${options.type.toUpperCase()}.gguf`;
		let shown = -1;
		const result = await convertToGguf(resolved.dir, {
			output,
			type: options.type,
			name,
			overwrite: options.overwrite,
			signal: run.signal,
			onProgress: (done, total) => {
				const percent = Math.floor((100 * done) / Math.max(1, total));
				if (options.json || percent < shown + 10) return;
				shown = percent;
				process.stderr.write(`converting: ${percent}%\n`);
			},
		});
		for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
		if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
		else process.stdout.write(`wrote ${result.file} (${result.tensors} tensors, ${result.bytes} bytes, sha256 ${result.sha256})\n`);
	});
}
