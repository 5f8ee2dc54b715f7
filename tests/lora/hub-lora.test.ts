import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMerge } from "../../src/merge/run-merge.js";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ALICE, cliEnv, hubOptions, runCli, startHub, tempDir, writeRecipe } from "../hub/helpers.js";
import { LORA, allTensors, maxUlps } from "./helpers.js";

const hub = await startHub();
const BASE = join(LORA, "..", "dense", "llama-rope-llama3", "base");
hub.store.createRepo("org/base");
const baseCommit = await hub.store.commitFolder("org/base", BASE);
hub.store.createRepo("org/plain-lora");
await hub.store.commitFolder("org/plain-lora", join(LORA, "plain", "adapter"), { extra: { "README.md": "# an adapter\n", "adapter_model.bin": "pickle" } });
const loraV1 = await hub.store.commitFolder("org/plain-lora", join(LORA, "dora", "adapter"), { branch: "v1" });
hub.store.createRepo("org/bin-lora");
await hub.store.commitFolder("org/bin-lora", join(LORA, "plain", "adapter"), { extra: { "adapter_model.safetensors": "" } });

describe("base+lora from the Hub", () => {
	it("downloads only the adapter files into the HF cache, at a revision, and locks the adapter's commit and sha256", async () => {
		const dir = await tempDir("moe-merge-hub-lora-");
		const cache = join(dir, "cache");
		const recipe = await writeRecipe(dir, { base: "org/base+org/plain-lora", experts: [{ model: "org/base+org/plain-lora@v1" }, { model: "org/base" }], dtype: "bfloat16" });
		const out = join(dir, "out");
		await runMerge(await loadRecipe(recipe), { outputDir: out, seed: 1, hub: hubOptions(hub, cache) });
		const snapshots = join(cache, "models--org--plain-lora", "snapshots");
		for (const commit of await readdir(snapshots)) assert.deepEqual((await readdir(join(snapshots, commit))).sort(), ["adapter_config.json", "adapter_model.safetensors"]);
		const got = await allTensors(out);
		const plain = await allTensors(join(LORA, "plain"));
		const dora = await allTensors(join(LORA, "dora"));
		assert.ok(maxUlps(got.get("model.layers.0.self_attn.q_proj.weight")!, plain.get("model.layers.0.self_attn.q_proj.weight")!, 2) <= 1);
		assert.ok(maxUlps(got.get("model.layers.1.block_sparse_moe.experts.0.w2.weight")!, dora.get("model.layers.1.mlp.down_proj.weight")!, 2) <= 1);
		const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8")) as { sources: { role: string; repo?: string; commit?: string; revision?: string; files: { path: string; sha256: string }[] }[] };
		const expert0 = lock.sources.find((s) => s.role === "expert 0 lora")!;
		assert.equal(expert0.repo, "org/plain-lora");
		assert.equal(expert0.revision, "v1");
		assert.equal(expert0.commit, loraV1);
		assert.equal(lock.sources.find((s) => s.role === "expert 0")!.commit, baseCommit);
		assert.match(expert0.files.find((f) => f.path === "adapter_model.safetensors")!.sha256, /^[0-9a-f]{64}$/);
	});

	it("apply-lora --push-to-hub uploads the finished folder (model card naming the adapter, lock)", async () => {
		const dir = await tempDir("moe-merge-hub-lora-push-");
		const out = join(dir, "out");
		const run = await runCli(["apply-lora", BASE, join(LORA, "plain", "adapter"), "-o", out, "--push-to-hub", "alice/with-lora", "--json"], { env: cliEnv(hub, join(dir, "home"), { HF_TOKEN: ALICE }) });
		assert.equal(run.code, 0, run.stderr);
		const summary = JSON.parse(run.stdout);
		assert.equal(summary.push.repo, "alice/with-lora");
		const tree = hub.store.tree("alice/with-lora");
		for (const name of ["model.safetensors", "config.json", "README.md", "moe-merge.lock.json"]) assert.ok(tree.has(name), name);
		assert.match(await readFile(join(out, "README.md"), "utf8"), /^# with-lora$[\s\S]*plain\/adapter`: LoRA, r = 4, lora_alpha = 8/m);
	});

	it("apply-lora of a Hub model and a Hub adapter at a revision: the local run's tensors, both commits and sha256 in the lock", async () => {
		const dir = await tempDir("moe-merge-hub-lora-apply-");
		const out = join(dir, "out");
		const run = await runCli(["apply-lora", "org/base", "org/plain-lora@v1", "-o", out, "--json"], { env: cliEnv(hub, join(dir, "home")) });
		assert.equal(run.code, 0, run.stderr);
		assert.deepEqual(JSON.parse(run.stdout).sources, [
			{ role: "model", ref: "org/base", commit: baseCommit },
			{ role: "adapter 0", ref: "org/plain-lora@v1", commit: loraV1 },
		]);
		const local = join(dir, "local");
		await applyLora({ model: BASE, adapters: [join(LORA, "dora", "adapter")], outputDir: local });
		const got = await allTensors(out);
		for (const [name, bytes] of await allTensors(local)) assert.ok(Buffer.from(bytes).equals(Buffer.from(got.get(name)!)), name);
		const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8")) as { sources: { role: string; kind: string; repo?: string; revision?: string; commit?: string; files: { path: string; sha256: string }[] }[] };
		const [model, adapter] = lock.sources;
		assert.deepEqual([model.kind, model.repo, model.revision, model.commit], ["hub", "org/base", "main", baseCommit]);
		assert.deepEqual([adapter.kind, adapter.repo, adapter.revision, adapter.commit], ["hub", "org/plain-lora", "v1", loraV1]);
		assert.deepEqual(adapter.files.map((f) => f.path), ["adapter_config.json", "adapter_model.safetensors"]);
		for (const f of [...model.files, ...adapter.files]) assert.match(f.sha256, /^[0-9a-f]{64}$/, f.path);
		assert.ok(model.files.some((f) => f.path === "model.safetensors"));
	});

	it("a Hub adapter that is not a safetensors peft adapter fails before anything is written", async () => {
		const dir = await tempDir("moe-merge-hub-lora-bad-");
		const recipe = await writeRecipe(dir, { base: "org/base", experts: [{ model: "org/base+org/bin-lora" }, { model: "org/base+org" + "/base" }] });
		await assert.rejects(runMerge(await loadRecipe(recipe), { outputDir: join(dir, "out"), seed: 1, hub: hubOptions(hub, join(dir, "cache")) }), /org\/bin-lora|org\/base: the repo has no adapter_config\.json/);
		assert.deepEqual((await readdir(dir)).filter((n) => n.includes("out")), []);
	});
});
