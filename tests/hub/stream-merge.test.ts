import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMerge } from "../../src/merge/run-merge.js";
import { runStreamMerge } from "../../src/merge/run-stream-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ALICE, ROPE, hubOptions, startHub, tempDir, writeRecipe } from "./helpers.js";

const hub = await startHub();
for (const [name, dir] of [["org/base", ROPE.base], ["org/expert-a", ROPE.a], ["org/expert-b", ROPE.b]] as const) {
	hub.store.createRepo(name);
	await hub.store.commitFolder(name, dir);
}

/** The same recipe over the Hub repos and over the local folders they hold. */
async function recipes(dir: string, gateMode = "random"): Promise<{ hubRecipe: string; localRecipe: string }> {
	const hubRecipe = await writeRecipe(dir, { name: "hub.yml", base: "org/base", gateMode, experts: [{ model: "org/expert-a" }, { model: "org/expert-b" }] });
	const localRecipe = await writeRecipe(dir, { name: "local.yml", base: ROPE.base, gateMode, experts: [{ model: ROPE.a }, { model: ROPE.b }] });
	return { hubRecipe, localRecipe };
}

/** The shards and index of a local merge of the same recipe, by name. */
async function localMerge(recipeFile: string, out: string, cache: string): Promise<Map<string, Buffer>> {
	await runMerge(await loadRecipe(recipeFile), { outputDir: out, seed: 7, shardSize: 100_000, hub: hubOptions(hub, cache) });
	const files = new Map<string, Buffer>();
	for (const name of await readdir(out)) if (name.endsWith(".safetensors") || name === "model.safetensors.index.json" || name === "config.json") files.set(name, await readFile(join(out, name)));
	return files;
}

describe("a merge streamed from the Hub to the Hub (--no-local-copy)", () => {
	it("reads the experts with range requests, uploads each shard, and commits files byte-equal to a local merge, once", async () => {
		const dir = await tempDir();
		const cache = await tempDir();
		const { hubRecipe, localRecipe } = await recipes(dir);
		const local = await localMerge(localRecipe, join(dir, "local"), cache);
		assert.ok([...local.keys()].filter((n) => n.endsWith(".safetensors")).length >= 3, "several shards");
		hub.takeRequests();
		const uploadedOrder: string[] = [];
		const result = await runStreamMerge(await loadRecipe(hubRecipe), {
			repo: "alice/streamed",
			seed: 7,
			shardSize: 100_000,
			hub: hubOptions(hub, cache, ALICE),
			workDir: join(dir, "work"),
			onShardUploaded: (f) => uploadedOrder.push(f.name),
		});
		const requests = hub.takeRequests();
		// The weights were never downloaded whole: every read of a safetensors file is a range.
		const weightReads = requests.filter((r) => r.method === "GET" && (r.path.includes(".safetensors") || r.path.startsWith("/lfs/")));
		assert.ok(weightReads.length > 0);
		assert.deepEqual(weightReads.filter((r) => !r.range), [], "every weight read is ranged");
		const cached = (await readdir(cache, { recursive: true })).filter((p) => String(p).endsWith(".safetensors"));
		assert.deepEqual(cached, [], "no weights in the cache");
		// One commit after the repo's first: the repo never showed part of the model.
		const repo = hub.store.mustGet("alice/streamed");
		assert.equal(repo.commits.size, 2);
		assert.equal(result.commit, repo.refs.get("main"));
		const tree = hub.store.tree("alice/streamed");
		for (const [name, bytes] of local) assert.ok(tree.get(name)?.data.equals(bytes), `${name} equals the local merge's`);
		assert.deepEqual(uploadedOrder, [...local.keys()].filter((n) => n.endsWith(".safetensors")).sort());
		for (const name of ["README.md", "moe-merge.lock.json", "moe-merge-recipe.yml", "generation_config.json"]) assert.ok(tree.has(name), name);
		// The lock says how each range-read input was checked.
		const lock = JSON.parse(tree.get("moe-merge.lock.json")!.data.toString("utf8"));
		const checks = lock.sources.flatMap((s: { files: { path: string; check?: string }[] }) => s.files.filter((f) => f.path.endsWith(".safetensors")).map((f) => f.check));
		assert.ok(checks.length >= 3 && checks.every((c: string) => c === "streamed" || c === "hub-lfs"), JSON.stringify(checks));
		assert.ok(checks.includes("streamed"), "a file read whole in order is hashed as it streams");
		// The work folder is gone.
		await assert.rejects(readdir(join(dir, "work")));
		assert.ok(result.transfer.readBytes > 0);
	});

	it("resumes a range whose connection drops, and retries an upload that fails, committing only once every shard is there", async () => {
		const dir = await tempDir();
		const cache = await tempDir();
		const { hubRecipe, localRecipe } = await recipes(dir);
		const local = await localMerge(localRecipe, join(dir, "local"), cache);
		// Cut every expert file's first answer after 1000 bytes.
		for (const name of ["org/expert-a", "org/expert-b"]) {
			for (const file of hub.store.tree(name).values()) if (file.lfs) hub.faults.cut.set(file.sha256, { afterBytes: 1000, times: 1 });
		}
		// The second shard's upload drops twice.
		const second = [...local.keys()].filter((n) => n.endsWith(".safetensors")).sort()[1];
		const { sha256 } = await import("./hub-store.js");
		hub.faults.failUpload.set(sha256(local.get(second)!), 2);
		const warnings: string[] = [];
		hub.takeRequests();
		await runStreamMerge(await loadRecipe(hubRecipe), {
			repo: "alice/flaky",
			seed: 7,
			shardSize: 100_000,
			hub: hubOptions(hub, cache, ALICE, { onWarning: (m) => warnings.push(m) }),
			workDir: join(dir, "work"),
		});
		const requests = hub.takeRequests();
		assert.ok(requests.some((r) => r.range && !r.range.startsWith("bytes=0-") && r.path.startsWith("/lfs/")), "a dropped range is asked again from the byte reached");
		assert.ok(warnings.some((w) => /interrupted/.test(w)), warnings.join("\n"));
		assert.equal(hub.faults.failUpload.get(sha256(local.get(second)!)), 0);
		const commits = requests.filter((r) => r.method === "POST" && r.path.includes("/commit/"));
		assert.equal(commits.length, 1, "one commit");
		const tree = hub.store.tree("alice/flaky");
		for (const [name, bytes] of local) assert.ok(tree.get(name)?.data.equals(bytes), `${name} equals the local merge's`);
	});
});
