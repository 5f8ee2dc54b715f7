/**
 * writeShards with a tap (the GGUF files of a merge): the tap takes the bytes where the shard writer
 * stages them and may finish with them later, while the stream goes on; a failure of the tap stops the
 * merge with the tap's own error (not as a shard write error).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { closeMergePlan, planMerge } from "../../src/merge/plan-merge.js";
import { writeShards } from "../../src/merge/write-shards.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { FIXTURES, tempDir } from "./helpers.js";

const RECIPE = join(FIXTURES, "recipes", "mixtral-cheap-embed.yml");

/** Staging buffers as MergeGgufWriters gives them: pages of one shared memory. */
function staging(count: number): Uint8Array[] {
	const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
	return [...Array(count).keys()].map((i) => new Uint8Array(memory.buffer, i * 8192, 8192));
}

const later = () => new Promise((resolve) => setTimeout(resolve, 1));

test("a tap that finishes with each chunk later sees every output byte, in order, unchanged; the shards are those of a merge without it", async () => {
	const plan = await planMerge(await loadRecipe(RECIPE), { seed: 1, shardSize: 100_000 });
	try {
		const [plain, tappedDir] = [await tempDir(), await tempDir()];
		const hashes = await writeShards({ dir: plain, tensors: plan.tensors, shards: plan.shards, sources: plan.weights, seed: 1 });
		const seen = new Map<string, ReturnType<typeof createHash>>();
		const tapped = await writeShards({
			dir: tappedDir, tensors: plan.tensors, shards: plan.shards, sources: plan.weights, seed: 1,
			tap: {
				stagingBuffers: staging(3),
				// Copied only after a delay: the bytes must still be the staged ones by then.
				receive: async (name, bytes) => {
					await later();
					const hash = seen.get(name) ?? createHash("sha256");
					seen.set(name, hash.update(bytes));
				},
			},
		});
		assert.deepEqual(tapped, hashes);
		for (const shard of plan.shards) {
			const file = await readFile(join(tappedDir, shard.fileName));
			let at = shard.headerBytes;
			for (const { spec, byteLength } of shard.tensors) {
				const bytes = file.subarray(at, at + byteLength);
				at += byteLength;
				assert.equal(seen.get(spec.name)?.digest("hex"), createHash("sha256").update(bytes).digest("hex"), spec.name);
			}
		}
	} finally {
		await closeMergePlan(plan);
	}
});

test("a tap that fails stops the writing with its own error", async () => {
	const plan = await planMerge(await loadRecipe(RECIPE), { seed: 1, shardSize: 100_000 });
	try {
		let calls = 0;
		const writing = writeShards({
			dir: await tempDir(), tensors: plan.tensors, shards: plan.shards, sources: plan.weights, seed: 1,
			tap: {
				stagingBuffers: staging(2),
				receive: async () => {
					await later();
					if (++calls === 5) throw new Error("GGUF file: no space left on device");
				},
			},
		});
		await assert.rejects(writing, (error: Error) => error.message === "GGUF file: no space left on device");
	} finally {
		await closeMergePlan(plan);
	}
});
