/**
 * Child process of the resume tests: merges a recipe (random seed 5, 300 KB shards) and kills itself
 * with SIGKILL once every shard (and GGUF file) is written, before the folder is renamed into place:
 * the one moment a timer cannot hit reliably. With `abort`, it is interrupted there instead as the CLI
 * is by SIGTERM (the merge aborted, keeping what a resume continues from).
 * Usage: node merge-then-die.js <recipe> <output> [gguf=<type>] [abort]
 */
import { runMerge } from "../../src/merge/run-merge.js";
import type { GgufTypeName } from "../../src/gguf/tensor-types.js";
import { loadRecipe } from "../../src/recipe/index.js";

const [recipeFile, outputDir, ...flags] = process.argv.slice(2) as [string, string, ...string[]];
const gguf = flags.filter((f) => f.startsWith("gguf=")).map((f) => f.slice(5) as GgufTypeName);
const interrupt = new AbortController();
await runMerge(await loadRecipe(recipeFile), {
	outputDir,
	seed: 5,
	shardSize: 300_000,
	gguf,
	signal: interrupt.signal,
	keepOnAbort: true,
	beforeCommit: async () => {
		if (!flags.includes("abort")) process.kill(process.pid, "SIGKILL");
		interrupt.abort(new Error("interrupted"));
		throw interrupt.signal.reason;
	},
}).catch((error: Error) => {
	if (!interrupt.signal.aborted) throw error;
});
