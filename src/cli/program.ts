import { Command, InvalidArgumentError, Option } from "commander";
import { VERSION } from "../version.js";
import { parseShardSize } from "../util/size.js";
import type { MergeCliOptions } from "./merge-cli-options.js";
import { runMergeCommand } from "./merge-command.js";
import { runPlanCommand } from "./plan-command.js";
import { addExtractCommand } from "./extract-command.js";
import { addReportCommand } from "./report-command.js";
import { addHubMergeOptions, addPushCommand } from "./push-command.js";
import { type ValidateCliOptions, runValidateCommand } from "./validate-command.js";
import { runVerifyCommand } from "./verify-command.js";
import { type ApplyLoraCliOptions, runApplyLoraCommand } from "./apply-lora-command.js";
import { addGgufCommand, ggufTypeArg } from "./gguf-command.js";
import { GGUF_TYPE_NAMES, type GgufTypeName } from "../gguf/tensor-types.js";
import { type MergekitMeaning, addMergekitOptions, applyMergekitOptions } from "./mergekit-options.js";

/** mergekit-moe's options mapped onto ours; the line about those that do nothing here goes to stderr. */
function withMergekitOptions(options: MergeCliOptions & MergekitMeaning): MergeCliOptions {
	const { options: mapped, note } = applyMergekitOptions(options);
	if (note && !options.json) process.stderr.write(`note: ${note}\n`);
	return mapped;
}

const sizeArg = (text: string): number => {
	try {
		return parseShardSize(text);
	} catch (error) {
		throw new InvalidArgumentError((error as Error).message);
	}
};
const threadsArg = (text: string): number => {
	const n = Number(text);
	if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
	return n;
};
const coefArg = (text: string): number => {
	const n = Number(text);
	if (text.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected a non-negative number");
	return n;
};
const ggufTypesArg = (text: string, previous: GgufTypeName[] = []): GgufTypeName[] => [...previous, ggufTypeArg(text)];
const seedArg = (text: string): number => {
	const n = Number(text);
	if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("expected a non-negative integer");
	return n;
};

function addMergeOptions(command: Command): Command {
	return addMergekitOptions(command, threadsArg)
		.option("-o, --output <dir>", "output folder (instead of the second argument)")
		.option("--overwrite", "replace an existing non-empty output folder (only once the new one is complete)")
		.option("--out-shard-size <size>", "maximum size of each output shard: bytes, or 5GB, 500M, 5B (billion) ...", sizeArg)
		.addOption(new Option("--layout <layout>", "expert tensor layout: per-expert (read by transformers 4 and 5, vLLM, llama.cpp) or fused (transformers 5 only)").choices(["per-expert", "fused"]).default("per-expert"))
		.option("--random-seed <n>", "seed for random gates and expert noise (recorded in the model card)", seedArg)
		.option("--output-router-logits", "for fine-tuning: config.json makes training add the router load-balancing loss (recipe: output_router_logits)")
		.option("--no-output-router-logits", "config.json leaves the router loss off (the default)")
		.option("--router-aux-loss-coef <x>", "for fine-tuning: weight of the router load-balancing loss (default 0.001; recipe: router_aux_loss_coef)", coefArg)
		.option("--threads <n>", "threads of the forward pass that computes hidden-state gates (default: one per core)", threadsArg)
		.option("--no-local-copy", "with --push-to-hub, no output folder: Hub inputs are read with range requests, each shard is uploaded while the next is written, one commit at the end (disk: two shards)")
		.option("--copy-tokenizer", "copy the base model's tokenizer files byte for byte (default)")
		.option("--no-copy-tokenizer", "do not copy the tokenizer files")
		.option("--gguf <type>", `also write <output name>-<TYPE>.gguf for llama.cpp, Ollama and LM Studio from the same stream: ${GGUF_TYPE_NAMES.join(", ")} (repeatable)`, ggufTypesArg)
		.option("--i-understand-this-is-not-useful-without-training", "allow every expert to be the same model")
		.option("--json", "print a machine-readable JSON summary on stdout (no progress)")
		.option("--verbose", "print stack traces with errors");
}

export function buildProgram(): Command {
	const program = new Command("moe-merge")
		.description("Turn several dense language models into one Mixture-of-Experts checkpoint.")
		.version(VERSION)
		.showHelpAfterError("(run with --help for usage)");

	addHubMergeOptions(
		addMergeOptions(
			program
				.command("merge <recipe> [output]", { isDefault: true })
				.description("merge the models a recipe names into an MoE checkpoint (the default command: `moe-merge recipe.yml out/`)"),
		),
	)
		.option("--report", "after the merge, run the recipe's prompts through the output and write report.json and report.html into it")
		.option("--resume", "continue the partial folder a killed merge of the same recipe, inputs and options left beside the output (its complete shards are kept when their sha256 checks out); merges from the start when there is none")
		.action((recipe: string, output: string | undefined, options: MergeCliOptions) => runMergeCommand(recipe, output, withMergekitOptions(options)));

	addMergeOptions(
		program
			.command("plan <recipe> [output]")
			.description("dry run: resolve the models and print the output architecture, tensors, sizes and disk space needed"),
	).action((recipe: string, output: string | undefined, options: MergeCliOptions) => runPlanCommand(recipe, output, withMergekitOptions(options)));

	program
		.command("validate <recipe...>")
		.description("check recipes (schema, rules, models found, shapes match) without reading weights; exit 1 on any error (Hub models out of reach: valid as far as checked, unless --require-hub)")
		.option("--i-understand-this-is-not-useful-without-training", "allow every expert to be the same model")
		.option("--require-hub", "fail a recipe whose Hub models cannot be checked (offline, or the Hub out of reach) instead of reporting it valid as far as checked")
		.option("--json", "print a JSON report on stdout")
		.option("--verbose", "print stack traces with errors")
		.action((recipes: string[], options: ValidateCliOptions) => runValidateCommand(recipes, options));
	program
		.command("verify <dir>")
		.description("check a finished checkpoint: shard headers and sizes, index, config.json against the tensors, tokenizer, the lock's sha256; exit 1 naming each problem")
		.option("--values", "also scan every tensor for NaN and Inf (reads all the weights)")
		.option("--json", "print the report as JSON on stdout")
		.option("--verbose", "print stack traces with errors")
		.action((dir: string, options: { values?: boolean; json?: boolean; verbose?: boolean }) => runVerifyCommand(dir, options));
	program
		.command("apply-lora <model> <adapter...>")
		.description("fold peft LoRA adapters (folders or Hub org/name[@revision], in order) into a checkpoint (folder or Hub repo), streamed: W + scale·B·A computed in float32, rounded once; every other tensor copied bit for bit")
		.requiredOption("-o, --output <dir>", "the output folder")
		.option("--overwrite", "replace the output folder if it exists")
		.option("--out-shard-size <size>", "maximum size of each output shard: bytes, or 5GB, 500M ...", sizeArg)
		.addOption(new Option("--dtype <dtype>", "dtype of the float tensors written (default: each tensor's own)").choices(["float32", "float16", "bfloat16"]))
		.option("--locked", "refuse an adapter whose base_model_name_or_path names another model (else a warning)")
		.option("--resume", "continue the partial folder a killed apply-lora of the same model, adapters and options left beside the output")
		.option("--threads <n>", "worker threads for the B·A products (default: all cores)", threadsArg)
		.option("--push-to-hub <repo>", "then upload the output to this Hub repo (org/name, or name for your account)")
		.option("--private", "create the pushed repo private (an existing repo keeps its visibility)")
		.option("--revision <branch>", "branch to push to (created when missing); default main")
		.option("--json", "print the result as JSON on stdout")
		.option("--verbose", "print stack traces with errors")
		.action((model: string, adapters: string[], options: ApplyLoraCliOptions) => runApplyLoraCommand(model, adapters, options));
	addPushCommand(program);
	addReportCommand(program, threadsArg);
	addExtractCommand(program, sizeArg);
	addGgufCommand(program);
	return program;
}
