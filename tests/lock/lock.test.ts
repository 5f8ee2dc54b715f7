import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, readFile, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MoeMergeError } from "../../src/errors.js";
import { LOCK_FILE_NAME, type MergeLock, recipeLockPath } from "../../src/lock/index.js";
import { runMerge } from "../../src/merge/run-merge.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ROPE, hubOptions, startHub, tempDir, writeRecipe } from "../hub/helpers.js";

const hub = await startHub();
const sha256 = async (file: string) => createHash("sha256").update(await readFile(file)).digest("hex");

/** The three rope fixture models copied into a temp folder (so a test can change them) and a recipe naming them. */
async function localSetup(): Promise<{ dir: string; recipe: string; base: string; a: string; b: string }> {
	const dir = await tempDir();
	const [base, a, b] = [join(dir, "base"), join(dir, "a"), join(dir, "b")];
	await cp(ROPE.base, base, { recursive: true });
	await cp(ROPE.a, a, { recursive: true });
	await cp(ROPE.b, b, { recursive: true });
	const recipe = await writeRecipe(dir, { base, experts: [{ model: a }, { model: b }], name: "mixtral.yml" });
	return { dir, recipe, base, a, b };
}

const readLockJson = async (file: string): Promise<MergeLock> => JSON.parse(await readFile(file, "utf8"));

describe("the merge lock file", () => {
	it("records every input and output file with its sha256, in the output and beside the recipe", async () => {
		const { dir, recipe, base, a } = await localSetup();
		const out = join(dir, "out");
		const result = await runMerge(await loadRecipe(recipe), { outputDir: out, seed: 1, recipeLock: true });
		assert.equal(recipeLockPath(recipe), join(dir, "mixtral.lock.json"));
		assert.equal(result.recipeLockFile, join(dir, "mixtral.lock.json"));
		assert.ok(result.files.includes(LOCK_FILE_NAME));

		const lock = await readLockJson(join(out, LOCK_FILE_NAME));
		assert.equal(lock.lockfileVersion, 1);
		assert.equal(lock.recipe.file, "mixtral.yml");
		assert.equal(lock.recipe.sha256, await sha256(recipe));
		assert.deepEqual(
			lock.sources.map((s) => [s.role, s.kind, s.ref]),
			[
				["base", "local", base],
				["expert 0", "local", a],
				["expert 1", "local", join(dir, "b")],
			],
		);
		const baseFiles = lock.sources[0].files;
		assert.deepEqual(
			baseFiles.map((f) => f.path),
			["config.json", "generation_config.json", "model.safetensors"],
		);
		for (const file of baseFiles) assert.equal(file.sha256, await sha256(join(base, file.path)), file.path);
		// Experts contribute their config and weights only (their generation config is not copied).
		assert.deepEqual(
			lock.sources[1].files.map((f) => f.path),
			["config.json", "model.safetensors"],
		);
		const outputs = (await readdir(out)).filter((f) => f !== LOCK_FILE_NAME).sort();
		assert.deepEqual(
			lock.output?.files.map((f) => f.path),
			outputs,
		);
		for (const file of lock.output?.files ?? []) assert.equal(file.sha256, await sha256(join(out, file.path)), file.path);

		const besideRecipe = await readLockJson(join(dir, "mixtral.lock.json"));
		assert.equal(besideRecipe.output, undefined, "the recipe's lock pins inputs only");
		assert.deepEqual(besideRecipe.sources, lock.sources);
	});

	it("--locked merges when nothing changed, and refuses a changed local file before writing anything", async () => {
		const { dir, recipe, base } = await localSetup();
		await runMerge(await loadRecipe(recipe), { outputDir: join(dir, "first"), seed: 1, recipeLock: true });
		const again = await runMerge(await loadRecipe(recipe), { outputDir: join(dir, "second"), seed: 1, locked: true });
		assert.equal(again.recipeLockFile, undefined, "--locked never writes the lock");
		assert.deepEqual(await readFile(join(dir, "first", "model.safetensors")), await readFile(join(dir, "second", "model.safetensors")));

		await writeFile(join(base, "generation_config.json"), `${await readFile(join(base, "generation_config.json"), "utf8")} `);
		const error = await runMerge(await loadRecipe(recipe), { outputDir: join(dir, "third"), seed: 1, locked: true }).catch((e) => e);
		assert.ok(error instanceof MoeMergeError, String(error));
		assert.match(error.message, /--locked: the sources differ from .*mixtral\.lock\.json:\n {2}base \(.*\): generation_config\.json changed \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)/);
		assert.ok(!existsSync(join(dir, "third")));
		assert.ok(!(await readdir(dir)).some((f) => f.includes("partial")));
	});

	it("--locked refuses a Hub branch that moved; a plain merge accepts it and updates the lock", async () => {
		hub.store.createRepo("org/moving");
		const first = await hub.store.commitFolder("org/moving", ROPE.a);
		hub.store.createRepo("org/steady");
		await hub.store.commitFolder("org/steady", ROPE.base);
		const dir = await tempDir();
		const cache = join(dir, "cache");
		const recipe = await writeRecipe(dir, { base: "org/steady", experts: [{ model: "org/moving" }, { model: ROPE.b }] });
		const options = { seed: 1, hub: hubOptions(hub, cache), recipeLock: true };
		await runMerge(await loadRecipe(recipe), { ...options, outputDir: join(dir, "one") });
		const lockFile = join(dir, "recipe.lock.json");
		const before = await readLockJson(lockFile);
		assert.equal(before.sources[1].commit, first);
		assert.equal(before.sources[1].revision, "main");
		const blob = before.sources[1].files.find((f) => f.path === "model.safetensors");
		assert.equal(blob?.sha256, await sha256(join(ROPE.a, "model.safetensors")), "a Hub file's sha256 is its LFS blob name");

		const second = hub.store.commit("org/moving", { "model.safetensors": await readFile(join(ROPE.b, "model.safetensors")) });
		const refused = await runMerge(await loadRecipe(recipe), { ...options, outputDir: join(dir, "two"), locked: true }).catch((e) => e);
		assert.ok(refused instanceof MoeMergeError, String(refused));
		assert.match(refused.message, new RegExp(`expert 0 \\(org/moving\\) resolves to commit ${second}, the lock has ${first}`));
		assert.match(refused.message, /model\.safetensors changed/);
		assert.match(refused.hint ?? "", /org\/name@<commit>/);

		const accepted = await runMerge(await loadRecipe(recipe), { ...options, outputDir: join(dir, "three") });
		assert.equal(accepted.recipeLockFile, lockFile);
		assert.equal((await readLockJson(lockFile)).sources[1].commit, second);
		assert.deepEqual(
			accepted.sources.map((s) => s.commit),
			[before.sources[0].commit, second, undefined],
		);
	});

	it("--locked without a lock file refuses and says how to make one", async () => {
		const { dir, recipe } = await localSetup();
		const error = await runMerge(await loadRecipe(recipe), { outputDir: join(dir, "out"), locked: true }).catch((e) => e);
		assert.ok(error instanceof MoeMergeError);
		assert.match(error.message, /--locked: there is no lock file .*mixtral\.lock\.json/);
		assert.match(error.hint ?? "", /merge once without --locked/);
	});
});
