/**
 * The README's promise about recipes/: `moe-merge validate recipes/*.yml`, typed in a shell as a user
 * types it (the shell expands the glob), on a copy of the repository's recipes/ beside the models
 * `npm run demo` builds. Offline, or with the Hub out of reach, the Hub examples are valid as far as
 * they can be checked ("needs the Hub"), unless --require-hub; a Hub that answers still fails a recipe
 * whose model does not exist.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { before, describe, it } from "node:test";
import { startHub } from "../hub/helpers.js";
import { CLI, ROOT, type CliResult, caseModels, closedPort, tempDir, writeRecipe } from "./helpers.js";

const DEMO = resolve(CLI, "..", "..", "demo", "run-demo.js");
const EXAMPLES = (await readdir(join(ROOT, "recipes"))).filter((f) => f.endsWith(".yml")).sort();
const HUB_EXAMPLES = EXAMPLES.filter((f) => f !== "demo.yml");

/** A folder whose `moe-merge` runs the compiled CLI of this test build, as `npm link` puts it on the PATH. */
const bin = await tempDir("moe-merge-bin-");
await writeFile(join(bin, "moe-merge"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });

/** Runs a shell command line with that `moe-merge` first on the PATH. */
function shell(command: string, options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<CliResult> {
	return new Promise((done, reject) => {
		const child = spawn("sh", ["-c", command], { cwd: options.cwd, env: { ...options.env, PATH: `${bin}:${process.env.PATH}` } });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		child.on("error", reject);
		child.on("close", (code, signal) => done({ code, signal, stdout, stderr }));
	});
}

// A clone's layout: recipes/ and, once the demo ran, moe-merge-demo/ beside it.
const clone = await tempDir("moe-merge-clone-");
const hfHome = await tempDir("moe-merge-hf-");
const unreachable = { PATH: process.env.PATH, HF_HOME: hfHome, HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}` };

describe("moe-merge validate recipes/*.yml on a fresh clone", () => {
	before(async () => {
		await cp(join(ROOT, "recipes"), join(clone, "recipes"), { recursive: true });
	});

	it("before `npm run demo`: demo.yml's models are missing, with the hint that the demo builds them", async () => {
		const run = await shell("moe-merge validate recipes/demo.yml", { cwd: clone, env: unreachable });
		assert.equal(run.code, 1);
		assert.match(run.stderr, /recipes\/demo\.yml:\d+:\d+: \.\.\/moe-merge-demo\/models\/base: model folder .*moe-merge-demo\/models\/base does not exist\nhint: this is a model of the demo: `npm run demo` \(at the top of the repository\) builds it/);
	});

	it("after `npm run demo`, from the top and from recipes/, with the Hub out of reach: every example valid, the Hub's models not checked", async () => {
		const demo = await new Promise<number | null>((done) => spawn(process.execPath, [DEMO, join(clone, "moe-merge-demo")], { stdio: "ignore" }).on("close", done));
		assert.equal(demo, 0);
		for (const [cwd, command] of [[clone, "moe-merge validate recipes/*.yml"], [join(clone, "recipes"), "moe-merge validate *.yml"]] as const) {
			const run = await shell(command, { cwd, env: unreachable });
			assert.equal(run.code, 0, run.stderr);
			assert.equal(run.stderr, "", "nothing fails");
			const prefix = cwd === clone ? "recipes/" : "";
			assert.match(run.stdout, new RegExp(`^ok: ${prefix}demo\\.yml \\(Mixtral, 4 experts\\)$`, "m"));
			for (const name of HUB_EXAMPLES) {
				assert.match(run.stdout, new RegExp(`^ok: ${prefix}${name.replaceAll(".", "\\.")}: schema and rules valid; models not checked: needs the Hub \\([\\w.-]+/[\\w.-]+(, [\\w.-]+/[\\w.-]+)*\\)\\n  http://127\\.0\\.0\\.1:\\d+ cannot be reached \\(`, "m"));
			}
			assert.match(run.stdout, new RegExp(`^${EXAMPLES.length} of ${EXAMPLES.length} recipes valid; the models of ${HUB_EXAMPLES.length} not checked: they need the Hub \\(--require-hub makes that a failure\\)$`, "m"));
		}
	});

	it("offline (HF_HUB_OFFLINE=1) with an empty cache: the same, saying why; --json marks them unchecked", async () => {
		const run = await shell("moe-merge validate recipes/*.yml --json", { cwd: clone, env: { ...unreachable, HF_HUB_OFFLINE: "1" } });
		assert.equal(run.code, 0, run.stderr);
		const report = JSON.parse(run.stdout) as { ok: boolean; recipes: { file: string; ok: boolean; modelsChecked: boolean; needsHub?: string[]; reason?: string }[] };
		assert.equal(report.ok, true);
		assert.deepEqual(report.recipes.map((r) => r.file), EXAMPLES.map((f) => `recipes/${f}`));
		for (const r of report.recipes) {
			assert.equal(r.ok, true);
			assert.equal(r.modelsChecked, r.file === "recipes/demo.yml");
			if (!r.modelsChecked) {
				assert.ok(r.needsHub!.length > 0);
				assert.equal(r.reason, "offline (HF_HUB_OFFLINE is set) and not all of them are in the local cache");
			}
		}
		const random = report.recipes.find((r) => r.file === "recipes/random-gates.yml")!;
		assert.deepEqual(random.needsHub, ["TinyLlama/TinyLlama_v1.1", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama/TinyLlama_v1.1_math_code", "TinyLlama/TinyLlama_v1.1_chinese"]);
	});

	it("--require-hub makes an unchecked Hub model a failure", async () => {
		const run = await shell("moe-merge validate recipes/*.yml --require-hub", { cwd: clone, env: unreachable });
		assert.equal(run.code, 1);
		assert.match(run.stdout, new RegExp(`^1 of ${EXAMPLES.length} recipes valid$`, "m"));
		assert.equal(run.stderr.match(/^error: recipes\/.*: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/gm)?.length, HUB_EXAMPLES.length, run.stderr);
	});
});

describe("validate with the Hub out of reach still checks what it can", () => {
	it("a recipe's missing local model fails even when its Hub models cannot be checked", async () => {
		const dir = await tempDir();
		const rope = caseModels("llama-rope-llama3");
		const recipe = await writeRecipe(dir, { base: "org/base", experts: [{ model: rope.a }, { model: join(dir, "no-such-model") }] });
		const run = await shell(`moe-merge validate ${recipe}`, { cwd: dir, env: unreachable });
		assert.equal(run.code, 1);
		assert.match(run.stderr, /recipe\.yml:\d+:\d+: .*no-such-model: model folder .* does not exist/);
	});

	it("offline, a recipe whose models are in the cache is checked fully, even after one that needs the Hub", async () => {
		const hub = await startHub();
		const rope = caseModels("llama-rope-llama3");
		for (const [repo, dir] of [["org/base", rope.base], ["org/a", rope.a], ["org/b", rope.b]] as const) {
			hub.store.createRepo(repo);
			await hub.store.commitFolder(repo, dir);
		}
		const dir = await tempDir();
		const home = await tempDir();
		await writeRecipe(dir, { name: "missing.yml", base: "org/not-cached", experts: [{ model: "org/a" }, { model: "org/b" }] });
		const cached = await writeRecipe(dir, { name: "cached.yml", base: "org/base", experts: [{ model: "org/a" }, { model: "org/b" }] });
		// A merge downloads the models into the cache.
		const merged = await shell(`moe-merge ${cached} ${join(dir, "out")}`, { cwd: dir, env: { PATH: process.env.PATH, HF_HOME: home, HF_ENDPOINT: hub.url } });
		assert.equal(merged.code, 0, merged.stderr);
		const run = await shell("moe-merge validate missing.yml cached.yml", { cwd: dir, env: { PATH: process.env.PATH, HF_HOME: home, HF_HUB_OFFLINE: "1" } });
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stdout, /^ok: missing\.yml: schema and rules valid; models not checked: needs the Hub \(org\/not-cached, org\/a, org\/b\)$/m);
		assert.match(run.stdout, /^ok: cached\.yml \(Mixtral, 2 experts\)$/m);
	});

	it("a Hub that answers 404 is a failure, not 'needs the Hub'", async () => {
		const hub = await startHub();
		const dir = await tempDir();
		const rope = caseModels("llama-rope-llama3");
		const recipe = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: "org/no-such-model" }] });
		const run = await shell(`moe-merge validate ${recipe}`, { cwd: dir, env: { ...unreachable, HF_ENDPOINT: hub.url } });
		assert.equal(run.code, 1);
		assert.match(run.stderr, /org\/no-such-model@main: the Hub requires you to log in \(401: Repository not found\)/);
		assert.doesNotMatch(run.stdout, /needs the Hub/);
	});
});
