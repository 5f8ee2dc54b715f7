import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMerge } from "../../src/merge/run-merge.js";
import { runStreamMerge } from "../../src/merge/run-stream-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { spawn } from "node:child_process";
import { CLI } from "../merge/helpers.js";
import { sha256 } from "./hub-store.js";
import { ALICE, FIXTURES, ROPE, cliEnv, hubOptions, runCli, startHub, tempDir, writeRecipe } from "./helpers.js";

const hub = await startHub();
const LLAMA = { base: join(FIXTURES, "models", "llama-base"), a: join(FIXTURES, "models", "llama-expert-a"), b: join(FIXTURES, "models", "llama-expert-b") };
for (const [name, dir] of [["org/base", ROPE.base], ["org/expert-a", ROPE.a], ["org/expert-b", ROPE.b], ["org/llama-base", LLAMA.base], ["org/llama-a", LLAMA.a], ["org/llama-b", LLAMA.b]] as const) {
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
	await runMerge(await loadRecipe(recipeFile), { outputDir: out, seed: 7, shardSize: 100_000, threads: 1, hub: hubOptions(hub, cache) });
	const files = new Map<string, Buffer>();
	for (const name of await readdir(out)) if (name.endsWith(".safetensors") || name === "model.safetensors.index.json" || name === "config.json") files.set(name, await readFile(join(out, name)));
	return files;
}

/** Bytes asked for by ranges with both ends ("bytes=a-b"), as the prefetch asks. */
function boundedRangeBytes(requests: { range?: string }[]): number {
	let bytes = 0;
	for (const { range } of requests) {
		const m = /^bytes=(\d+)-(\d+)$/.exec(range ?? "");
		if (m) bytes += Number(m[2]) - Number(m[1]) + 1;
	}
	return bytes;
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

	it("runs from the CLI with no output folder, plan states its disk and transfer, --report is refused with the reason", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const { hubRecipe } = await recipes(dir);
		const env = cliEnv(hub, home, { HF_TOKEN: ALICE, TMPDIR: dir });
		const plan = await runCli(["plan", hubRecipe, "--no-local-copy", "--out-shard-size", "100K", "--json"], { env });
		assert.equal(plan.code, 0, plan.stderr);
		const stream = JSON.parse(plan.stdout).stream;
		assert.ok(stream.diskBytes > 0 && stream.diskBytes <= 2 * 100_000 + 4096, JSON.stringify(stream));
		assert.ok(stream.readBytes > 0 && stream.readBytes <= stream.inputFileBytes);
		assert.equal(stream.hoursAt.length, 2);
		const refused = await runCli([hubRecipe, "--push-to-hub", "alice/cli-stream", "--no-local-copy", "--report"], { env });
		assert.equal(refused.code, 1);
		assert.match(refused.stderr, /--report is not available with --no-local-copy/);
		const run = await runCli([hubRecipe, "--push-to-hub", "alice/cli-stream", "--no-local-copy", "--random-seed", "7", "--out-shard-size", "100K", "--json"], { env });
		assert.equal(run.code, 0, run.stderr);
		const summary = JSON.parse(run.stdout);
		assert.equal(summary.commit, hub.store.mustGet("alice/cli-stream").refs.get("main"));
		assert.ok(hub.store.tree("alice/cli-stream").has("model.safetensors.index.json"));
	});

	it("killed (kill -9) after a shard is uploaded, resumes with --resume without uploading that shard again", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const { hubRecipe, localRecipe } = await recipes(dir);
		const local = await localMerge(localRecipe, join(dir, "local"), await tempDir());
		const shards = [...local.keys()].filter((n) => n.endsWith(".safetensors")).sort();
		const env = cliEnv(hub, home, { HF_TOKEN: ALICE, TMPDIR: dir });
		const args = [hubRecipe, "--push-to-hub", "alice/killed", "--no-local-copy", "--random-seed", "7", "--out-shard-size", "100K", "--json"];
		// The first run dies as its second shard's upload starts: the first shard is on the Hub, not committed.
		const child = spawn(process.execPath, [CLI, ...args], { env });
		let uploads = 0;
		hub.faults.intercept = (req, res, url) => {
			if (!url.pathname.startsWith("/lfs-upload/") || ++uploads < 2) return false;
			child.kill("SIGKILL");
			res.destroy();
			return true;
		};
		const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
		hub.faults.intercept = undefined;
		assert.equal(signal, "SIGKILL", `exit ${code}`);
		assert.equal(hub.store.repos.get("alice/killed")?.commits.size, 1, "nothing committed");
		const first = sha256(local.get(shards[0])!);
		assert.ok(hub.store.mustGet("alice/killed").lfs.has(first), "the first shard was uploaded");
		hub.takeRequests();
		const resumed = await runCli([...args, "--resume"], { env });
		assert.equal(resumed.code, 0, resumed.stderr);
		const resumedRequests = hub.takeRequests();
		const puts = resumedRequests.filter((r) => r.path.startsWith("/lfs-upload/"));
		assert.ok(!puts.some((r) => r.path.endsWith(first)), "the uploaded shard is not uploaded again");
		assert.ok(JSON.parse(resumed.stdout).resumed?.kept.includes(shards[0]), resumed.stdout);
		const tree = hub.store.tree("alice/killed");
		for (const [name, bytes] of local) assert.ok(tree.get(name)?.data.equals(bytes), `${name} equals the local merge's`);
		// The kept shard's input bytes are not fetched ahead again: fewer bytes asked for than by a whole run.
		const whole = await runCli([hubRecipe, "--push-to-hub", "alice/killed-whole", "--no-local-copy", "--random-seed", "7", "--out-shard-size", "100K", "--json"], { env });
		assert.equal(whole.code, 0, whole.stderr);
		const wholeBytes = boundedRangeBytes(hub.takeRequests());
		assert.ok(boundedRangeBytes(resumedRequests) < wholeBytes, `resumed run asked for ${boundedRangeBytes(resumedRequests)} bytes by range, a whole run ${wholeBytes}`);
	});

	it("with --locked, merges when the sources resolve as the recipe's lock says and refuses once a source repo moved", async () => {
		const dir = await tempDir();
		const cache = await tempDir();
		hub.store.createRepo("org/expert-locked");
		await hub.store.commitFolder("org/expert-locked", ROPE.b);
		const recipe = await writeRecipe(dir, { name: "locked.yml", base: "org/base", gateMode: "random", experts: [{ model: "org/expert-a" }, { model: "org/expert-locked" }] });
		const options = (repo: string) => ({ repo, seed: 7, shardSize: 100_000, hub: hubOptions(hub, cache, ALICE), workDir: join(dir, "work") });
		// The first streamed merge writes the recipe's lock beside it.
		await runStreamMerge(await loadRecipe(recipe), { ...options("alice/locked-1"), recipeLock: true });
		const lock = await readFile(join(dir, "locked.lock.json"), "utf8");
		assert.match(lock, /org\/expert-locked/);
		await runStreamMerge(await loadRecipe(recipe), { ...options("alice/locked-2"), locked: true });
		assert.ok(hub.store.tree("alice/locked-2").has("model.safetensors.index.json"));
		// The source repo gets a new commit with other weights: --locked refuses before anything is uploaded.
		await hub.store.commitFolder("org/expert-locked", ROPE.a);
		await assert.rejects(runStreamMerge(await loadRecipe(recipe), { ...options("alice/locked-3"), locked: true }), (error: Error) => /lock/i.test(error.message) && /org\/expert-locked/.test(error.message));
		const third = hub.store.repos.get("alice/locked-3");
		assert.ok(!third || third.commits.size === 1, "nothing committed");
		assert.equal(third?.lfs.size ?? 0, 0, "nothing uploaded");
	});

	it("computes hidden-state gates from the base read by range requests, equal to a local merge", async () => {
		const dir = await tempDir();
		const cache = await tempDir();
		const hubRecipe = await writeRecipe(dir, { name: "hub.yml", base: "org/llama-base", gateMode: "hidden", experts: [{ model: "org/llama-a" }, { model: "org/llama-b" }] });
		const localRecipe = await writeRecipe(dir, { name: "local.yml", base: LLAMA.base, gateMode: "hidden", experts: [{ model: LLAMA.a }, { model: LLAMA.b }] });
		const local = await localMerge(localRecipe, join(dir, "local"), cache);
		await runStreamMerge(await loadRecipe(hubRecipe), { repo: "alice/hidden", seed: 7, shardSize: 100_000, threads: 1, hub: hubOptions(hub, cache, ALICE), workDir: join(dir, "work") });
		const tree = hub.store.tree("alice/hidden");
		for (const [name, bytes] of local) assert.ok(tree.get(name)?.data.equals(bytes), `${name} equals the local merge's`);
		assert.ok(tree.has("tokenizer.json"));
	});
});
