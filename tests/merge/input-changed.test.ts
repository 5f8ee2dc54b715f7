import assert from "node:assert/strict";
import { closeSync, openSync, statSync, truncateSync, writeSync } from "node:fs";
import { cp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MoeMergeError } from "../../src/errors.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { caseModels, tempDir, writeRecipe } from "./helpers.js";

const rope = caseModels("llama-rope-llama3");

/** Merges with an input changed by `change` once the plan is made (the models are open), as another program would. */
async function mergeWhileChanging(change: (shard: string) => void): Promise<{ dir: string; error: unknown }> {
	const dir = await tempDir();
	const expert = join(dir, "expert-a");
	await cp(rope.a, expert, { recursive: true });
	const recipe = await loadRecipe(await writeRecipe(dir, { base: rope.base, experts: [{ model: expert }, { model: rope.b }] }));
	const error = await runMerge(recipe, { outputDir: join(dir, "out"), seed: 1, onPlan: () => change(join(expert, "model.safetensors")) }).then(
		() => undefined,
		(e: unknown) => e,
	);
	return { dir, error };
}

describe("an input changed during the merge", () => {
	for (const [what, change] of [
		// Synchronous, so the change is done before the first tensor is written.
		["rewritten in place (same size)", (shard: string) => {
			const fd = openSync(shard, "r+");
			writeSync(fd, Buffer.from([0x55]), 0, 1, statSync(shard).size - 1);
			closeSync(fd);
		}],
		["truncated", (shard: string) => truncateSync(shard, statSync(shard).size - 64)],
	] as const) {
		it(`is refused when ${what}, and nothing is left`, async () => {
			const { dir, error } = await mergeWhileChanging(change);
			assert.ok(error instanceof MoeMergeError, String(error));
			// A truncation is caught by the read that runs past the end, or else by the final check.
			assert.match(error.message, /expert-a\/model\.safetensors(: truncated| changed while the merge read it)/);
			assert.deepEqual((await readdir(dir)).filter((f) => f === "out" || f.includes("moe-merge-partial")), []);
		});
	}
});
