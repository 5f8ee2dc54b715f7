/**
 * mergekit-moe's command line, accepted as it is, so a mergekit-moe or LazyMergekit command works with
 * `mergekit-moe` replaced by `moe-merge`. Options with a meaning here map onto ours; the others (GPU,
 * quantization, pickles, architecture crimes...) are accepted, and one line says they are ignored.
 * The option list is mergekit's MergeOptions and mergekit-moe's own flags (mergekit/options.py,
 * mergekit/scripts/moe.py).
 */
import { type Command, Option } from "commander";

interface IgnoredOption {
	/** commander flags, e.g. "--cuda" or "--device <device>". */
	flags: string;
	/** Why it does nothing here. */
	why: string;
	/** mergekit's boolean options also come as --no-<name>. */
	negatable?: boolean;
}

const GPU = "moe-merge computes on the CPU";
const IGNORED: readonly IgnoredOption[] = [
	{ flags: "--allow-crimes", why: "the output architecture is chosen from the inputs, and mismatched shapes are always refused", negatable: true },
	{ flags: "--lazy-unpickle", why: "moe-merge reads only safetensors, streamed", negatable: true },
	{ flags: "--trust-remote-code", why: "moe-merge never runs a model's code", negatable: true },
	{ flags: "--clone-tensors", why: "every tensor is streamed to the output on its own", negatable: true },
	{ flags: "--safe-serialization", why: "the output is always safetensors", negatable: true },
	{ flags: "--low-cpu-memory", why: "memory is bounded by streaming", negatable: true },
	{ flags: "--cuda", why: GPU, negatable: true },
	{ flags: "--read-to-gpu", why: GPU, negatable: true },
	{ flags: "--multi-gpu", why: GPU, negatable: true },
	{ flags: "--gpu-rich", why: GPU },
	{ flags: "--device <device>", why: GPU },
	{ flags: "--load-in-4bit", why: "hidden states are computed in float32 from the checkpoint" },
	{ flags: "--load-in-8bit", why: "hidden states are computed in float32 from the checkpoint" },
	{ flags: "--async-write", why: "shards are always written while the next bytes are read", negatable: true },
	{ flags: "--write-threads <n>", why: "one writer streams at the disk's speed" },
	{ flags: "--lora-merge-cache <dir>", why: "LoRA experts (base+lora) are not supported yet" },
	{ flags: "--lora-merge-dtype <dtype>", why: "LoRA experts (base+lora) are not supported yet" },
	{ flags: "--transformers-cache <dir>", why: "Hub models go to the Hugging Face cache: set HF_HUB_CACHE or HF_HOME instead" },
];

/** What mergekit-moe's options with a meaning here become. */
export interface MergekitMeaning {
	/** -j / --num-threads: threads of the forward pass. */
	numThreads?: number;
	/** -v (any count): more detail on errors. */
	verbosity?: number;
	/** --quiet: no progress display. */
	quiet?: boolean;
	/** --write-model-card / --no-write-model-card: a card is always written. */
	writeModelCard?: boolean;
}

/** Adds mergekit-moe's options to a merge or plan command, hidden from --help (docs/recipes.md lists them). */
export function addMergekitOptions(command: Command, threadsArg: (text: string) => number): Command {
	command
		.addOption(new Option("-j, --num-threads <n>", "mergekit-moe's name for --threads").argParser(threadsArg).hideHelp())
		.addOption(new Option("-v, --verbosity", "mergekit-moe's -v: more detail on errors (as --verbose)").argParser((_: string, n: number | undefined) => (n ?? 0) + 1).hideHelp())
		.addOption(new Option("--quiet", "no progress display").hideHelp())
		.addOption(new Option("--no-quiet").hideHelp())
		.addOption(new Option("--write-model-card").hideHelp())
		.addOption(new Option("--no-write-model-card").hideHelp());
	for (const o of IGNORED) {
		command.addOption(new Option(o.flags).hideHelp());
		if (o.negatable) command.addOption(new Option(o.flags.replace(/^--/, "--no-")).hideHelp());
	}
	return command;
}

/**
 * Maps mergekit-moe's options with a meaning here onto ours, and returns one line naming those given
 * that do nothing here and why (undefined when there are none).
 */
export function applyMergekitOptions<T extends { threads?: number; verbose?: boolean; quiet?: boolean }>(options: T & MergekitMeaning): { options: T; note?: string } {
	const mapped = { ...options, threads: options.threads ?? options.numThreads, verbose: options.verbose || (options.verbosity ?? 0) > 0 };
	const given = options as Record<string, unknown>;
	const parts = IGNORED.filter((o) => given[attributeOf(o.flags)] !== undefined).map((o) => {
		const flag = o.flags.split(" ")[0]!;
		return `${given[attributeOf(o.flags)] === false ? flag.replace(/^--/, "--no-") : flag} (${o.why})`;
	});
	if (options.writeModelCard === false) parts.push("--no-write-model-card (the model card is always written: it records the recipe and the sources)");
	if (parts.length === 0) return { options: mapped };
	return { options: mapped, note: `mergekit-moe option${parts.length > 1 ? "s" : ""} with no effect in moe-merge: ${parts.join("; ")}` };
}

/** commander's attribute name of a flag: --low-cpu-memory -> lowCpuMemory. */
function attributeOf(flags: string): string {
	return flags.split(" ")[0]!.replace(/^--/, "").replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
