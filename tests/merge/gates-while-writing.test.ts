/**
 * Hidden-state gates are computed while the other tensors are written: the routers end up last in the
 * last shard with the same bytes as when computed first, and a failure of either half stops the other
 * and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { closeMergePlan, planMerge } from "../../src/merge/plan-merge.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { SafetensorsFile, fromFloat32 } from "../../src/safetensors/index.js";
import { FIXTURES, tempDir } from "./helpers.js";

const RECIPE = join(FIXTURES, "recipes", "mixtral-hidden.yml");

describe("hidden-state gates computed while the shards are written", () => {
	it("routers are the last tensors of the last shard, with the bytes of routers computed first", async () => {
		const recipe = await loadRecipe(RECIPE);
		const out = join(await tempDir(), "out");
		const progress: string[] = [];
		const result = await runMerge(recipe, {
			outputDir: out,
			seed: 1,
			shardSize: 1_000_000,
			onGateProgress: (p) => p.prompt === 0 && progress.push(`gates ${p.layer}/${p.layers}`),
			onProgress: (p) => progress.push(`bytes ${p.bytesDone}`),
		});
		assert.ok(result.shards.length > 1);
		assert.ok(progress.includes("gates 1/1"), progress.join(", "));
		assert.equal(result.gates.forward?.layers, 1);
		assert.ok((result.gates.forward?.phases.products ?? 0) > 0);

		const first = await planMerge(recipe, { seed: 1, hiddenGates: "compute" });
		try {
			const routerNames = first.tensors.filter((t) => t.name.endsWith("block_sparse_moe.gate.weight")).map((t) => t.name);
			assert.equal(routerNames.length, 2);
			const last = await SafetensorsFile.open(join(out, result.shards.at(-1)!));
			try {
				const byOffset = [...last.header.tensors.values()].sort((a, b) => a.begin - b.begin);
				assert.deepEqual(byOffset.slice(-2).map((t) => t.name).sort(), [...routerNames].sort(), "routers last in the last shard");
				for (const name of routerNames) {
					const info = last.header.tensors.get(name)!;
					const written = new Uint8Array(info.end - info.begin);
					await last.read(info, 0, written.length, written);
					const part = first.tensors.find((t) => t.name === name)!.parts[0]!;
					assert.equal(part.kind, "values");
					const values = part.kind === "values" ? part.values : new Float32Array();
					assert.deepEqual(written, fromFloat32(values, "BF16", new Uint8Array(values.length * 2)), name);
				}
			} finally {
				await last.close();
			}
		} finally {
			await closeMergePlan(first);
		}
	});

	it("a failure in the forward pass stops the writer and leaves no output and no partial folder", async () => {
		const dir = await tempDir();
		const out = join(dir, "out");
		await assert.rejects(
			runMerge(await loadRecipe(RECIPE), {
				outputDir: out,
				seed: 1,
				onGateProgress: () => {
					throw new Error("forward pass failed");
				},
			}),
			/forward pass failed/,
		);
		assert.deepEqual(await readdir(dir), []);
	});

	it("a failure in the writer stops the forward pass, with the writer's error", async () => {
		const dir = await tempDir();
		const abort = new AbortController();
		await assert.rejects(
			runMerge(await loadRecipe(RECIPE), {
				outputDir: join(dir, "out"),
				seed: 1,
				signal: abort.signal,
				onProgress: () => abort.abort(new Error("writer stopped")),
			}),
			/writer stopped/,
		);
		assert.deepEqual(await readdir(dir), []);
	});
});
