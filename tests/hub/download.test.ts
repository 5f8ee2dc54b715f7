import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, readFile, readdir, readlink, rm, stat } from "node:fs/promises";
import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HubError, type TransferProgress, resolveHubModel } from "../../src/hub/index.js";
import { LLAMA_BASE, ROPE, SHARDED, hubOptions, readTree, startHub, tempDir } from "./helpers.js";
import { sha256 } from "./hub-store.js";

const hub = await startHub();
const EXTRA = { "pytorch_model.bin": "pickle", "model.gguf": "gguf", "README.md": "# card\n", "original/consolidated.pth": "pth" };
hub.store.createRepo("org/llama-base");
const baseCommit = await hub.store.commitFolder("org/llama-base", LLAMA_BASE, { extra: EXTRA });
hub.store.createRepo("org/sharded");
await hub.store.commitFolder("org/sharded", SHARDED, { extra: { "consolidated.safetensors": Buffer.alloc(1000) } });
/** A port nobody listens on. */
async function closedPort(): Promise<number> {
	const server = createServer().listen(0, "127.0.0.1");
	await once(server, "listening");
	const { port } = server.address() as AddressInfo;
	await new Promise((resolve) => server.close(resolve));
	return port;
}

const PYTHON = join(process.env.HOME ?? "", ".cache/hfref/venv5/bin/python");

describe("downloading a model from the Hub", () => {
	it("fetches only the files a merge needs, into the huggingface_hub cache layout", async () => {
		const cache = await tempDir();
		hub.takeRequests();
		const snap = await resolveHubModel("org/llama-base", undefined, hubOptions(hub, cache));
		assert.equal(snap.commit, baseCommit);
		const repoDir = join(cache, "models--org--llama-base");
		assert.equal(snap.dir, join(repoDir, "snapshots", baseCommit));
		assert.deepEqual((await readdir(snap.dir)).sort(), (await readdir(LLAMA_BASE)).sort());
		for (const name of await readdir(snap.dir)) {
			const link = join(snap.dir, name);
			assert.ok((await lstat(link)).isSymbolicLink(), `${name} is a symlink`);
			const target = await readlink(link);
			const file = hub.store.tree("org/llama-base").get(name);
			assert.ok(file);
			// Relative, into blobs/, named by sha256 for LFS files and git sha1 otherwise.
			assert.equal(target, join("..", "..", "blobs", file.lfs ? file.sha256 : file.oid));
			assert.deepEqual(await readFile(link), await readFile(join(LLAMA_BASE, name)));
		}
		assert.equal(await readFile(join(repoDir, "refs", "main"), "utf8"), baseCommit);
		assert.deepEqual(await readdir(join(repoDir, "snapshots")), [baseCommit]);
		const asked = hub.takeRequests().map((r) => r.path);
		assert.ok(!asked.some((p) => /\.(bin|gguf|pth)|README/.test(p)), `unexpected downloads: ${asked.join(" ")}`);

		// A second run asks the Hub which commit main is, and downloads nothing.
		const again = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache));
		assert.equal(again.downloadedBytes, 0);
		assert.deepEqual(
			hub.takeRequests().map((r) => r.path.split("?")[0]),
			["/api/models/org/llama-base/revision/main", `/api/models/org/llama-base/tree/${baseCommit}`],
		);
		// A commit sha that is complete in the cache needs no request at all.
		await resolveHubModel("org/llama-base", baseCommit, hubOptions(hub, cache));
		assert.deepEqual(hub.takeRequests(), []);

		if (existsSync(PYTHON)) {
			const script = `
import json, sys
from huggingface_hub import try_to_load_from_cache
out = {}
for rev in ["main", "${baseCommit}"]:
    for f in ["config.json", "model.safetensors", "tokenizer.json"]:
        out[rev + ":" + f] = try_to_load_from_cache("org/llama-base", f, cache_dir=sys.argv[1], revision=rev)
print(json.dumps(out))`;
			const found = JSON.parse(execFileSync(PYTHON, ["-c", script, cache], { encoding: "utf8" }));
			for (const [key, path] of Object.entries(found)) assert.equal(path, join(snap.dir, key.split(":")[1]), `python: ${key}`);
		}
	});

	it("pins revisions: a branch follows its newest commit, a tag or a commit sha stays put", async () => {
		const cache = await tempDir();
		hub.store.createRepo("org/evolving");
		const first = await hub.store.commitFolder("org/evolving", ROPE.a);
		hub.store.mustGet("org/evolving").refs.set("v1", first);
		const second = await hub.store.commitFolder("org/evolving", ROPE.b);
		const options = hubOptions(hub, cache);
		const main = await resolveHubModel("org/evolving", "main", options);
		const tag = await resolveHubModel("org/evolving", "v1", options);
		const pinned = await resolveHubModel("org/evolving", first, options);
		assert.equal(main.commit, second);
		assert.equal(tag.commit, first);
		assert.equal(pinned.dir, tag.dir);
		assert.deepEqual(await readFile(join(main.dir, "model.safetensors")), await readFile(join(ROPE.b, "model.safetensors")));
		assert.deepEqual(await readFile(join(tag.dir, "model.safetensors")), await readFile(join(ROPE.a, "model.safetensors")));
		const refs = join(cache, "models--org--evolving", "refs");
		assert.deepEqual((await readdir(refs)).sort(), ["main", "v1"]);
		assert.equal(await readFile(join(refs, "v1"), "utf8"), first);
	});

	it("resumes a file when the connection drops in the middle, with byte progress", async () => {
		const cache = await tempDir();
		const weights = hub.store.tree("org/llama-base").get("model.safetensors");
		assert.ok(weights);
		hub.faults.cut.set(weights.sha256, { afterBytes: 100_000, times: 1 });
		const seen: TransferProgress[] = [];
		hub.takeRequests();
		const snap = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache, null, { onProgress: (p) => seen.push(p) }));
		assert.deepEqual(await readFile(join(snap.dir, "model.safetensors")), await readFile(join(LLAMA_BASE, "model.safetensors")));
		const ranges = hub
			.takeRequests()
			.filter((r) => r.path === `/lfs/${weights.sha256}` && r.range !== "bytes=0-0")
			.map((r) => r.range);
		assert.deepEqual(ranges, [undefined, "bytes=100000-"]);
		const last = seen[seen.length - 1];
		assert.equal(last.bytesDone, last.bytesTotal);
		assert.equal(last.filesDone, last.filesTotal);
		assert.ok(seen.every((p, i) => i === 0 || p.bytesDone >= seen[i - 1].bytesDone), "progress never goes back");
	});

	it("keeps the part of an interrupted download, and the next run resumes from it", async () => {
		const cache = await tempDir();
		const weights = hub.store.tree("org/llama-base").get("model.safetensors");
		assert.ok(weights);
		hub.faults.cut.set(weights.sha256, { afterBytes: 200_000, times: 1 });
		const failure = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache, null, { retries: 0 })).catch((e) => e);
		assert.ok(failure instanceof HubError, String(failure));
		// The server cuts the connection after 200000 bytes; bytes in flight when it resets may be lost.
		const kept = Number(/(\d+) of \d+ bytes are kept; run again to resume/.exec(failure.hint ?? "")?.[1]);
		assert.ok(kept > 0 && kept <= 200_000, `kept ${kept} bytes: ${failure.hint}`);
		const partial = join(cache, "models--org--llama-base", "blobs", `${weights.sha256}.incomplete`);
		assert.equal((await stat(partial)).size, kept);
		hub.takeRequests();
		const snap = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache));
		const all = [...hub.store.tree("org/llama-base").values()].reduce((sum, f) => sum + f.data.length, 0);
		assert.ok(snap.downloadedBytes <= all - kept, "the kept part is not downloaded again");
		const ranges = hub.takeRequests().filter((r) => r.path === `/lfs/${weights.sha256}` && r.range !== "bytes=0-0");
		assert.deepEqual(
			ranges.map((r) => r.range),
			[`bytes=${kept}-`],
		);
		assert.equal(sha256(await readFile(join(snap.dir, "model.safetensors"))), weights.sha256);
		assert.ok(!existsSync(partial));
	});

	it("refuses a corrupted download, deletes it, and succeeds once the file is served intact", async () => {
		const cache = await tempDir();
		const weights = hub.store.tree("org/llama-base").get("model.safetensors");
		assert.ok(weights);
		hub.faults.corrupt.add(weights.sha256);
		try {
			const failure = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache)).catch((e) => e);
			assert.ok(failure instanceof HubError, String(failure));
			assert.match(failure.message, new RegExp(`model.safetensors arrived corrupted: its sha256 is [0-9a-f]{64}, the Hub lists ${weights.sha256}; the download was deleted`));
			const blobs = await readdir(join(cache, "models--org--llama-base", "blobs"));
			assert.ok(!blobs.some((b) => b.startsWith(weights.sha256)), `left behind: ${blobs}`);
			assert.ok(!existsSync(join(cache, "models--org--llama-base", "snapshots", baseCommit, "model.safetensors")));
		} finally {
			hub.faults.corrupt.delete(weights.sha256);
		}
		const snap = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache));
		assert.equal(sha256(await readFile(join(snap.dir, "model.safetensors"))), weights.sha256);
		// Small (non-LFS) files are checked against their git blob sha1.
		const config = hub.store.tree("org/llama-base").get("generation_config.json");
		assert.ok(config && !config.lfs);
		hub.faults.corrupt.add(config.oid);
		try {
			const failure = await resolveHubModel("org/llama-base", "main", hubOptions(hub, await tempDir())).catch((e) => e);
			assert.match(String(failure?.message), new RegExp(`generation_config\\.json arrived corrupted: its git sha1 is [0-9a-f]{40}, the Hub lists ${config.oid}`));
		} finally {
			hub.faults.corrupt.delete(config.oid);
		}
	});

	it("downloads the index first, then exactly the shards it names", async () => {
		const cache = await tempDir();
		const snap = await resolveHubModel("org/sharded", "main", hubOptions(hub, cache));
		const expected = (await readdir(SHARDED)).sort();
		assert.deepEqual((await readdir(snap.dir)).sort(), expected);
		const tree = await readTree(snap.dir);
		for (const name of expected) assert.deepEqual(tree.get(name), await readFile(join(SHARDED, name)), name);
	});

	it("refuses a repo that has only pickled .bin weights, saying why", async () => {
		const cache = await tempDir();
		hub.store.createRepo("org/pickled");
		hub.store.commit("org/pickled", { "config.json": await readFile(join(LLAMA_BASE, "config.json")), "pytorch_model.bin": "pickle" });
		hub.takeRequests();
		const failure = await resolveHubModel("org/pickled", "main", hubOptions(hub, cache)).catch((e) => e);
		assert.ok(failure instanceof HubError, String(failure));
		assert.match(failure.message, /org\/pickled@main: the repo has no safetensors weights, only pytorch_model\.bin/);
		assert.match(failure.hint ?? "", /safetensors/);
		assert.ok(!hub.takeRequests().some((r) => r.path.includes("/resolve/")), "nothing is downloaded");
	});

	it("offline: uses the cache without a single request, and says clearly what is missing", async () => {
		const cache = await tempDir();
		const online = await resolveHubModel("org/sharded", "main", hubOptions(hub, cache));
		hub.takeRequests();
		const offline = await resolveHubModel("org/sharded", "main", hubOptions(hub, cache, null, { env: { HF_HUB_OFFLINE: "1" } }));
		assert.equal(offline.dir, online.dir);
		const missing = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache, null, { offline: true })).catch((e) => e);
		assert.ok(missing instanceof HubError);
		assert.match(missing.message, /org\/llama-base@main is not in the local Hugging Face cache .* offline mode \(HF_HUB_OFFLINE\) forbids downloading it/);
		assert.match(missing.hint ?? "", /unset HF_HUB_OFFLINE/);
		const shard = join(online.dir, "model-00003-of-00005.safetensors");
		await rm(shard);
		const gap = await resolveHubModel("org/sharded", "main", hubOptions(hub, cache, null, { offline: true })).catch((e) => e);
		assert.match(String(gap?.message), /lacks model-00003-of-00005\.safetensors/);
		assert.deepEqual(hub.takeRequests(), []);
		// Online again: the blob is still cached, so the link comes back without a download...
		await resolveHubModel("org/sharded", "main", hubOptions(hub, cache));
		assert.ok(existsSync(shard));
		assert.equal(hub.takeRequests().filter((r) => r.path.includes("/resolve/")).length, 0);
		// ... and without the blob only that shard is fetched.
		await rm(join(online.dir, "..", "..", "blobs", await readlink(shard).then((t) => t.split("/").pop() as string)));
		await resolveHubModel("org/sharded", "main", hubOptions(hub, cache));
		assert.deepEqual(
			// (the library's size probe asks for bytes=0-0 first)
			hub.takeRequests().filter((r) => r.path.includes("/resolve/") && r.range !== "bytes=0-0").map((r) => r.path.split("/").pop()),
			["model-00003-of-00005.safetensors"],
		);
	});

	it("falls back to a complete cached snapshot, with a warning, when the Hub cannot be reached", async () => {
		const cache = await tempDir();
		const online = await resolveHubModel("org/llama-base", "main", hubOptions(hub, cache));
		const warnings: string[] = [];
		const closed = await closedPort();
		const away = { hubUrl: `http://127.0.0.1:${closed}`, onWarning: (w: string) => warnings.push(w) };
		const cached = await resolveHubModel("org/llama-base", "main", { ...hubOptions(hub, cache), ...away });
		assert.equal(cached.dir, online.dir);
		assert.match(warnings.join("\n"), new RegExp(`cannot reach http://127.0.0.1:${closed} .*using the cached snapshot`));
		const failure = await resolveHubModel("org/never-downloaded", "main", { ...hubOptions(hub, cache), ...away }).catch((e) => e);
		assert.ok(failure instanceof HubError);
		assert.match(failure.message, new RegExp(`cannot reach http://127.0.0.1:${closed} \\(ECONNREFUSED\\)`));
		assert.match(failure.hint ?? "", /HF_HUB_OFFLINE=1/);
	});
});
