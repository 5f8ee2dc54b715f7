/**
 * Child process of the resume tests: merges a recipe (random seed 5, 300 KB shards) and kills itself
 * with SIGKILL once every shard is written, before the folder is renamed into place: the one moment
 * a timer cannot hit reliably. Usage: node merge-then-die.js <recipe> <output>
 */
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";

const [recipeFile, outputDir] = process.argv.slice(2) as [string, string];
await runMerge(await loadRecipe(recipeFile), {
	outputDir,
	seed: 5,
	shardSize: 300_000,
	beforeCommit: async () => {
		process.kill(process.pid, "SIGKILL");
		return [];
	},
});
