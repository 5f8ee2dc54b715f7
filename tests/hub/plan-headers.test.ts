import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FIXTURES, SHARDED, cliEnv, runCli, startHub, tempDir } from "./helpers.js";

const hub = await startHub();
const MODELS = join(FIXTURES, "models");
for (const name of ["llama-base", "llama-expert-a", "llama-expert-b"]) {
	hub.store.createRepo(`org/${name}`);
	await hub.store.commitFolder(`org/${name}`, join(MODELS, name));
}
hub.store.createRepo("org/sharded");
await hub.store.commitFolder("org/sharded", SHARDED);

async function recipe(dir: string, base: string, experts: string[]): Promise<string> {
	const file = join(dir, "recipe.yml");
	await writeFile(file, `base_model: ${base}\ngate_mode: cheap_embed\nexperts:\n${experts.map((e, i) => `  - source_model: ${e}\n    positive_prompts: ["x ${e} ${i}"]`).join("\n")}\n`);
	return file;
}

/** Every file under the cache that is (or links to) a safetensors weight file. */
async function cachedWeights(cache: string): Promise<string[]> {
	return (await readdir(cache, { recursive: true })).filter((p) => p.endsWith(".safetensors"));
}

describe("plan of a Hub recipe reads safetensors headers with range requests", () => {
	it("moves less than 1 MB per model and downloads no weight, with the plan the local models give", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const hubPlan = await recipe(dir, "org/llama-base", ["org/llama-expert-a", "org/llama-expert-b"]);
		hub.bytesServed = 0;
		const run = await runCli(["plan", hubPlan, "--json"], { env: cliEnv(hub, home) });
		assert.equal(run.code, 0, run.stderr);
		// The three models hold 6.3 MB of weights.
		assert.ok(hub.bytesServed < 1_000_000, `${hub.bytesServed} bytes served for 3 models`);
		console.log(`plan of 3 Hub models (6.3 MB of weights) moved ${hub.bytesServed} bytes`);
		assert.deepEqual(await cachedWeights(join(home, "hub")), [], "no weights in the cache");
		const local = await runCli(["plan", await recipe(await tempDir(), join(MODELS, "llama-base"), [join(MODELS, "llama-expert-a"), join(MODELS, "llama-expert-b")]), "--json"]);
		assert.equal(local.code, 0, local.stderr);
		const pick = (text: string) => {
			const { tensors, tensorBytes, diskBytes, shards, architecture } = JSON.parse(text);
			return { tensors, tensorBytes, diskBytes, shards, architecture };
		};
		assert.deepEqual(pick(run.stdout), pick(local.stdout));
	});

	it("reads a sharded model's index and every shard's header, and refuses a corrupt remote header by name", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const file = await recipe(dir, "org/sharded", ["org/sharded", "org/sharded"]);
		hub.bytesServed = 0;
		const run = await runCli(["plan", file, "--json", "--i-understand-this-is-not-useful-without-training"], { env: cliEnv(hub, home) });
		assert.equal(run.code, 0, run.stderr);
		assert.deepEqual(await cachedWeights(join(home, "hub")), []);
		const shardRanges = hub.takeRequests().filter((r) => r.range && !r.range.endsWith("=0-0"));
		assert.ok(shardRanges.length >= 4, `two range requests per shard: ${shardRanges.map((r) => r.range).join(" ")}`);

		hub.store.createRepo("org/broken");
		const brokenDir = await tempDir();
		await writeFile(join(brokenDir, "config.json"), await readFile(join(MODELS, "llama-base", "config.json")));
		const bytes = Buffer.alloc(64);
		bytes.writeBigUInt64LE(1_000_000n, 0);
		await writeFile(join(brokenDir, "model.safetensors"), bytes);
		await hub.store.commitFolder("org/broken", brokenDir);
		const broken = await runCli(["plan", await recipe(dir, "org/broken", ["org/llama-expert-a", "org/llama-expert-b"])], { env: cliEnv(hub, home) });
		assert.equal(broken.code, 1, broken.stderr);
		assert.match(broken.stderr, /org\/broken@[0-9a-f]{40}\/model\.safetensors: invalid safetensors file: truncated: the header is 1000000 bytes/);
	});
});
