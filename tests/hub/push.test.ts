import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HubError, type TransferProgress, pushToHub, resolveHubModel } from "../../src/hub/index.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { VERSION } from "../../src/version.js";
import { ALICE, BOB, ROPE, hubOptions, startHub, tempDir } from "./helpers.js";
import { sha256 } from "./hub-store.js";

const hub = await startHub();
hub.store.createRepo("org/base");
const baseCommit = await hub.store.commitFolder("org/base", ROPE.base);
hub.store.createRepo("org/expert-a");
const aCommit = await hub.store.commitFolder("org/expert-a", ROPE.a);
hub.store.createRepo("org/expert-b");
const bCommit = await hub.store.commitFolder("org/expert-b", ROPE.b);
hub.store.mustGet("org/expert-b").refs.set("v1", bCommit);

/** Merges org/base (pinned commit), org/expert-a (main) and org/expert-b@v1 from the test hub into several shards. */
async function mergeFromHub(): Promise<{ out: string; cache: string }> {
	const dir = await tempDir();
	const cache = join(dir, "cache");
	const recipe = join(dir, "recipe.yml");
	await writeFile(
		recipe,
		[
			`base_model: org/base@${baseCommit}`,
			"gate_mode: random",
			"experts:",
			"  - source_model: org/expert-a",
			"  - source_model: org/expert-b@v1",
			"  - source_model: org/base",
			"",
		].join("\n"),
	);
	const out = join(dir, "out");
	await runMerge(await loadRecipe(recipe), { outputDir: out, seed: 3, shardSize: 150_000, hub: hubOptions(hub, cache) });
	return { out, cache };
}

const merged = await mergeFromHub();

describe("pushing a merged model to the Hub", () => {
	it("pushes a multi-shard merge from Hub sources in one commit; it downloads again byte for byte", async () => {
		const { out } = merged;
		const local = (await readdir(out)).sort();
		assert.ok(local.filter((f) => f.endsWith(".safetensors")).length > 2, `several shards: ${local}`);
		const card = await readFile(join(out, "README.md"), "utf8");
		for (const sha of [baseCommit, aCommit, bCommit]) assert.ok(card.includes(sha), `the model card names commit ${sha}`);
		assert.match(card, /random/);
		assert.ok(card.includes(VERSION));
		assert.match(card, /seed/);
		const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8"));
		assert.deepEqual(
			lock.sources.map((s: { role: string; commit: string }) => [s.role, s.commit]),
			[
				["base", baseCommit],
				["expert 0", aCommit],
				["expert 1", bCommit],
				["expert 2", baseCommit],
			],
		);

		const before = hub.store.mustGet("org/base").refs.size;
		hub.takeRequests();
		const seen: TransferProgress[] = [];
		const pushed = await pushToHub(out, "alice/moe", hubOptions(hub, await tempDir(), ALICE, { onProgress: (p) => seen.push(p) }));
		assert.deepEqual([...new Set(seen.map((p) => p.phase))], ["hash", "upload"]);
		const last = seen[seen.length - 1];
		assert.equal(last.bytesDone, last.bytesTotal);
		assert.equal(last.filesDone, local.length);
		assert.equal(pushed.repo, "alice/moe");
		assert.equal(pushed.createdRepo, true);
		assert.deepEqual(pushed.files, local);
		assert.deepEqual(pushed.reusedFiles, []);
		assert.equal(hub.store.mustGet("alice/moe").refs.get("main"), pushed.commit);
		assert.equal(hub.takeRequests().filter((r) => r.path.includes("/commit/")).length, 1, "one commit");
		assert.equal(hub.store.mustGet("org/base").refs.size, before);

		const remote = hub.store.tree("alice/moe");
		for (const name of local) assert.deepEqual(remote.get(name)?.data, await readFile(join(out, name)), `${name} on the Hub`);
		for (const [name, file] of remote) assert.equal(file.lfs, name.endsWith(".safetensors"), `${name} in LFS`);

		const again = await resolveHubModel("alice/moe", "main", hubOptions(hub, await tempDir()));
		assert.equal(again.commit, pushed.commit);
		const downloaded = await readdir(again.dir);
		assert.ok(downloaded.includes("model.safetensors.index.json") && downloaded.includes("config.json"));
		for (const name of downloaded) assert.deepEqual(await readFile(join(again.dir, name)), await readFile(join(out, name)), `${name} downloaded again`);
		assert.deepEqual(
			downloaded.filter((n) => n.endsWith(".safetensors")).sort(),
			local.filter((n) => n.endsWith(".safetensors")),
		);
	});

	it("resumes an interrupted push: shards already uploaded are not sent again", async () => {
		const { out } = merged;
		const shards = (await readdir(out)).filter((f) => f.endsWith(".safetensors")).sort();
		const dropped = shards[1];
		const droppedSha = sha256(await readFile(join(out, dropped)));
		hub.faults.failUpload.set(droppedSha, 1);
		const first = await pushToHub(out, "alice/moe-resume", hubOptions(hub, await tempDir(), ALICE, { retries: 0 })).catch((e) => e);
		assert.ok(first instanceof HubError, String(first));
		assert.match(first.hint ?? "", /run the push again .*large files already uploaded are not sent again/);
		assert.deepEqual([...hub.store.tree("alice/moe-resume").keys()], [".gitattributes"], "nothing committed");
		hub.takeRequests();
		const second = await pushToHub(out, "alice/moe-resume", hubOptions(hub, await tempDir(), ALICE));
		assert.equal(second.createdRepo, false);
		assert.deepEqual(second.reusedFiles, shards.filter((s) => s !== dropped));
		assert.deepEqual(
			hub.takeRequests().filter((r) => r.method === "PUT").map((r) => r.path),
			[`/lfs-upload/alice/moe-resume/${droppedSha}`],
		);
		for (const name of await readdir(out)) assert.deepEqual(hub.store.tree("alice/moe-resume").get(name)?.data, await readFile(join(out, name)));

		// With retries (the default), one dropped upload is retried within the same push.
		hub.faults.failUpload.set(droppedSha, 1);
		hub.store.mustGet("alice/moe-resume").lfs.delete(droppedSha);
		const warnings: string[] = [];
		const third = await pushToHub(out, "alice/moe-resume", hubOptions(hub, await tempDir(), ALICE, { onWarning: (w) => warnings.push(w) }));
		assert.match(warnings.join("\n"), /interrupted .* retrying/);
		assert.notEqual(third.commit, second.commit);
	});

	it("creates a private repo and a branch; a name without org goes to the token's account", async () => {
		const pushed = await pushToHub(merged.out, "moe-dev", { ...hubOptions(hub, await tempDir(), ALICE), private: true, branch: "dev" });
		assert.equal(pushed.repo, "alice/moe-dev");
		assert.equal(pushed.branch, "dev");
		assert.match(pushed.url, /\/alice\/moe-dev\/tree\/dev$/);
		const repo = hub.store.mustGet("alice/moe-dev");
		assert.equal(repo.private, true);
		assert.deepEqual([...hub.store.tree("alice/moe-dev", "main").keys()], [".gitattributes"]);
		assert.ok(hub.store.tree("alice/moe-dev", "dev").has("config.json"));
	});

	it("refuses to push without a token, with a read-only token, or offline, before sending anything", async () => {
		const cache = await tempDir();
		hub.takeRequests();
		const none = await pushToHub(merged.out, "alice/x", hubOptions(hub, cache)).catch((e) => e);
		assert.ok(none instanceof HubError);
		assert.match(none.message, /pushing to alice\/x needs a Hugging Face token with write access, and none was found/);
		assert.match(none.hint ?? "", /HF_TOKEN/);
		const offline = await pushToHub(merged.out, "alice/x", hubOptions(hub, cache, ALICE, { offline: true })).catch((e) => e);
		assert.match(String(offline?.message), /offline mode/);
		assert.deepEqual(hub.takeRequests(), []);
		const readOnly = await pushToHub(merged.out, "bob/x", hubOptions(hub, cache, BOB)).catch((e) => e);
		assert.match(String(readOnly?.message), /is read-only/);
		const notMine = await pushToHub(merged.out, "carol/x", hubOptions(hub, cache, ALICE)).catch((e) => e);
		assert.ok(notMine instanceof HubError);
		assert.equal(notMine.status, 403);
		assert.match(notMine.message, /carol\/x: the token from the accessToken option is not allowed to write to this repo/);
		const notAModel = await pushToHub(cache, "alice/x", hubOptions(hub, cache, ALICE)).catch((e) => e);
		assert.match(String(notAModel?.message), /is not a model folder/);
	});
});
