import assert from "node:assert/strict";
import { cp, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { readTree } from "../hub/helpers.js";
import { caseModels, type CliResult, runCli, tempDir, writeRecipe } from "./helpers.js";

const rope = caseModels("llama-rope-llama3");

/** Copies of the fixture models in a temporary folder (never the fixtures themselves: a bug would destroy them). */
async function modelsIn(dir: string): Promise<{ base: string; a: string; b: string }> {
	const models = { base: join(dir, "models", "base"), a: join(dir, "models", "expert-a"), b: join(dir, "models", "expert-b") };
	for (const key of ["base", "a", "b"] as const) await cp(rope[key], models[key], { recursive: true });
	return models;
}

function assertRefused(result: CliResult, relation: RegExp): void {
	assert.equal(result.code, 1, `exit 1 expected; stderr: ${result.stderr}`);
	assert.match(result.stderr, relation);
	assert.match(result.stderr, /would destroy it/);
	assert.doesNotMatch(result.stderr, /^\s+at /m);
}

async function assertUntouched(dir: string, before: Map<string, Buffer>): Promise<void> {
	assert.deepEqual(await readTree(dir), before, `${dir} must be left exactly as it was`);
}

describe("an output folder never replaces an input model", () => {
	for (const overwrite of [false, true]) {
		it(`output = an expert's folder is refused${overwrite ? " with --overwrite" : ""}, the expert untouched`, async () => {
			const dir = await tempDir();
			const m = await modelsIn(dir);
			const recipe = await writeRecipe(dir, { base: m.base, experts: [{ model: m.a }, { model: m.b }] });
			const before = await readTree(join(dir, "models"));
			assertRefused(await runCli([recipe, m.a, ...(overwrite ? ["--overwrite"] : [])]), /output .*expert-a is .*expert-a/);
			await assertUntouched(join(dir, "models"), before);
			assert.deepEqual((await readdir(join(dir, "models"))).sort(), ["base", "expert-a", "expert-b"], "no staging folder beside the models");
		});
	}

	it("an output inside a model folder, or containing one, is refused", async () => {
		const dir = await tempDir();
		const m = await modelsIn(dir);
		const recipe = await writeRecipe(dir, { base: m.base, experts: [{ model: m.a }, { model: m.b }] });
		const before = await readTree(join(dir, "models"));
		assertRefused(await runCli([recipe, join(m.b, "merged")]), /lies inside .*expert-b/);
		assertRefused(await runCli([recipe, join(dir, "models"), "--overwrite"]), /contains .*base/);
		await assertUntouched(join(dir, "models"), before);
	});

	it("a symlink to a model folder, and a relative path, are seen through", async () => {
		const dir = await tempDir();
		const m = await modelsIn(dir);
		const recipe = await writeRecipe(dir, { base: m.base, experts: [{ model: m.a }, { model: m.b }] });
		await symlink(m.base, join(dir, "link"));
		const before = await readTree(join(dir, "models"));
		assertRefused(await runCli([recipe, join(dir, "link"), "--overwrite"]), /is .*models\/base/);
		assertRefused(await runCli([recipe, relative(dir, m.a), "--overwrite"], { cwd: dir }), /expert-a/);
		await assertUntouched(join(dir, "models"), before);
	});

	it("plan refuses the same outputs", async () => {
		const dir = await tempDir();
		const m = await modelsIn(dir);
		const recipe = await writeRecipe(dir, { base: m.base, experts: [{ model: m.a }, { model: m.b }] });
		assertRefused(await runCli(["plan", recipe, m.a, "--overwrite"]), /expert-a/);
	});

	it("Hugging Face cache folders of Hub inputs are protected, offline, with their blobs", async () => {
		const dir = await tempDir();
		const cache = join(dir, "hub");
		const commit = "0123456789abcdef0123456789abcdef01234567";
		const repoDir = join(cache, "models--org--expert");
		const snapshot = join(repoDir, "snapshots", commit);
		await mkdir(join(repoDir, "blobs"), { recursive: true });
		await mkdir(join(repoDir, "refs"));
		await mkdir(snapshot, { recursive: true });
		await writeFile(join(repoDir, "refs", "main"), commit);
		// The layout huggingface_hub writes: snapshot files are relative symlinks into blobs/.
		for (const name of await readdir(rope.a)) {
			await cp(join(rope.a, name), join(repoDir, "blobs", `blob-${name}`));
			await symlink(join("..", "..", "blobs", `blob-${name}`), join(snapshot, name));
		}
		const recipe = await writeRecipe(dir, { base: rope.base, experts: [{ model: "org/expert" }, { model: rope.b }] });
		const env = { PATH: process.env.PATH, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1", HF_HOME: join(dir, "home") };
		const before = await readTree(cache);
		for (const out of [snapshot, join(repoDir, "blobs"), join(repoDir, "merged"), cache]) {
			assertRefused(await runCli([recipe, out, "--overwrite"], { env }), /org\/expert|models--org--expert/);
		}
		await assertUntouched(cache, before);
		// The same recipe merges fine into a folder beside the cache.
		const ok = await runCli([recipe, join(dir, "out")], { env });
		assert.equal(ok.code, 0, ok.stderr);
	});
});
