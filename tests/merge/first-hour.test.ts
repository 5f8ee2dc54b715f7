/**
 * What tripped a new user in the first hour (issue 17, items 7-13 and 16), each through the compiled CLI:
 * unknown commands, shard sizes without a unit, the report and the model folder's lock, a recipe
 * without prompts, the seed `plan` shows, the push hint without a network.
 */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { spawn } from "node:child_process";
import { CLI, FIXTURES, caseModels, closedPort, runCli, tempDir, writeRecipe } from "./helpers.js";

const MODELS = join(FIXTURES, "models");

/** A recipe of the fixture models (with a tokenizer); random gates, with or without prompts. */
async function fixtureRecipe(dir: string, prompts: boolean): Promise<string> {
	const file = join(dir, "recipe.yml");
	const expert = (name: string, prompt: string) => `  - source_model: ${join(MODELS, name)}\n${prompts ? `    positive_prompts: [${JSON.stringify(prompt)}]\n` : ""}`;
	await writeFile(file, `base_model: ${join(MODELS, "llama-base")}\ngate_mode: random\nexperts:\n${expert("llama-expert-a", "def f(x):")}${expert("llama-expert-b", "Once upon a time")}`);
	return file;
}

describe("an unknown first word is an unknown command", () => {
	for (const [args, suggestion] of [
		[["mrege", "r.yml", "out"], "merge"],
		[["plna", "r.yml"], "plan"],
		[["verfy", "out"], "verify"],
		[["frobnicate"], undefined],
	] as const) {
		it(`moe-merge ${args.join(" ")}`, async () => {
			const dir = await tempDir();
			const run = await runCli([...args], { cwd: dir });
			assert.equal(run.code, 1, run.stderr);
			assert.match(run.stderr, new RegExp(`^error: unknown command "${args[0]}"${suggestion ? `; did you mean "${suggestion}"\\?` : "\\n"}`));
			assert.match(run.stderr, /hint: the commands are merge, plan, validate, verify, apply-lora, push, report, extract, gguf; to merge, name the recipe file/);
			assert.doesNotMatch(run.stderr, /too many arguments|no output folder/);
		});
	}

	it("an existing file, or a missing one shaped like a recipe path, is still a recipe", async () => {
		const dir = await tempDir();
		await writeFile(join(dir, "mrege"), "base_model: [\n");
		const existing = await runCli(["mrege", "out"], { cwd: dir });
		assert.equal(existing.code, 1);
		assert.match(existing.stderr, /^error: mrege:\d+:\d+: /, "read as a recipe");
		const missing = await runCli(["recipe.yml", "out"], { cwd: dir });
		assert.match(missing.stderr, /^error: recipe\.yml: no such recipe file/);
	});
});

describe("--out-shard-size", () => {
	it("a bare number below 1 MB is refused, naming the units; with a unit it is meant", async () => {
		const dir = await tempDir();
		const recipe = await fixtureRecipe(dir, true);
		const refused = await runCli([recipe, join(dir, "out"), "--out-shard-size", "5"]);
		assert.equal(refused.code, 1);
		assert.match(refused.stderr, /invalid size "5": 5 bytes per shard is surely not meant; below 1 MB a size needs a unit \(e\.g\. 5GB, 5B = 5 billion bytes, 500KB\)/);
		assert.deepEqual(await readdir(dir), ["recipe.yml"]);
		const planned = await runCli(["plan", recipe, "--out-shard-size", "300KB", "--json"]);
		assert.equal(planned.code, 0, planned.stderr);
		assert.ok((JSON.parse(planned.stdout) as { shards: unknown[] }).shards.length > 1);
	});
});

describe("the routing report and the model folder", () => {
	it("report -o <model> is refused (its lock would not list the report), and verify still passes", async () => {
		const dir = await tempDir();
		const out = join(dir, "moe");
		const merged = await runCli([await fixtureRecipe(dir, true), out, "--random-seed", "1"]);
		assert.equal(merged.code, 0, merged.stderr);
		const before = (await readdir(out)).sort();
		for (const target of [out, `${out}/`]) {
			const run = await runCli(["report", out, "-o", target, "--threads", "1"]);
			assert.equal(run.code, 1, run.stderr);
			assert.match(run.stderr, /will not write the report into the model folder: its moe-merge\.lock\.json does not list report\.json and report\.html, so `moe-merge verify` would reject the folder/);
			assert.match(run.stderr, /hint: write it beside the model \(-o <name>-report, the default\), or merge with --report/);
		}
		assert.deepEqual((await readdir(out)).sort(), before);
		const verified = await runCli(["verify", out]);
		assert.equal(verified.code, 0, verified.stderr);
	});

	it("a recipe copy without prompts is said to have no prompts", async () => {
		const dir = await tempDir();
		const out = join(dir, "moe");
		assert.equal((await runCli([await fixtureRecipe(dir, false), out])).code, 0);
		const run = await runCli(["report", out, "-o", join(dir, "r")]);
		assert.equal(run.code, 1);
		assert.match(run.stderr, /no prompts to run: .*moe-merge-recipe\.yml has no prompts \(random gates need none\) and no --prompts file was given/);
		assert.doesNotMatch(run.stderr, /holds no recipe copy/);
		assert.match(run.stderr, /hint: pass --prompts prompts\.txt/);
	});
});

describe("plan and merge agree on the seed", () => {
	it("without --random-seed plan says none is chosen yet; with it, plan shows the seed the merge uses", async () => {
		const dir = await tempDir();
		const recipe = await fixtureRecipe(dir, true);
		const text = await runCli(["plan", recipe]);
		assert.equal(text.code, 0, text.stderr);
		assert.match(text.stdout, /seed not chosen yet \(the merge draws one and records it in the model card; --random-seed N fixes it\)/);
		assert.equal((JSON.parse((await runCli(["plan", recipe, "--json"])).stdout) as { seed: unknown }).seed, null);
		const planned = JSON.parse((await runCli(["plan", recipe, "--json", "--random-seed", "42"])).stdout) as { seed: number };
		const merged = JSON.parse((await runCli([recipe, join(dir, "out"), "--json", "--random-seed", "42"])).stdout) as { seed: number };
		assert.equal(planned.seed, 42);
		assert.equal(merged.seed, planned.seed);
		assert.match(await readFile(join(dir, "out", "README.md"), "utf8"), /random seed: `42`/);
	});
});

describe("push without a network", () => {
	it("the hint is about uploading, not downloads or the offline cache", async () => {
		const dir = await tempDir();
		const out = join(dir, "moe");
		assert.equal((await runCli([await fixtureRecipe(dir, true), out])).code, 0);
		const env = { PATH: process.env.PATH, HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, HF_HOME: join(dir, "hf"), HF_TOKEN: "hf_testToken0123456789abcdef" };
		const run = await runCli(["push", out, "me/my-moe"], { env });
		assert.equal(run.code, 1, run.stderr);
		assert.match(run.stderr, /me\/my-moe: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
		assert.match(run.stderr, /hint: check the network and HF_ENDPOINT, then run the command again \(an upload skips the files already on the Hub\)/);
		assert.doesNotMatch(run.stderr, /download|HF_HUB_OFFLINE/);
	});
});

describe("a base model without a tokenizer", () => {
	it("merge warns with the consequence, and verify of the output passes with the same warning", async () => {
		const dir = await tempDir();
		const rope = caseModels("llama-rope-llama3");
		const recipe = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		const out = join(dir, "out");
		const merged = await runCli([recipe, out]);
		assert.equal(merged.code, 0, merged.stderr);
		assert.match(merged.stderr, /warning: the base model .*llama-rope-llama3\/base has no tokenizer \(tokenizer\.json, or tokenizer\.model, or vocab\.json \+ merges\.txt\), so the output will have none: AutoTokenizer, vLLM, llama\.cpp's converter and `moe-merge report` need one/);
		assert.match(await readFile(join(out, "README.md"), "utf8"), /- note: the base model .* has no tokenizer/);
		const verified = await runCli(["verify", out]);
		assert.equal(verified.code, 0, verified.stderr);
		assert.match(verified.stderr, /^warning: .*out: has no tokenizer \(.*\): AutoTokenizer, vLLM, llama\.cpp's converter and `moe-merge report` need one; copy the base model's tokenizer files into it$/m);
		assert.match(verified.stdout, /^ok: /);
		const json = JSON.parse((await runCli(["verify", out, "--json"])).stdout) as { ok: boolean; problems: unknown[]; warnings: { file: string; message: string }[] };
		assert.equal(json.ok, true);
		assert.deepEqual(json.problems, []);
		assert.equal(json.warnings.length, 1);
		const validated = await runCli(["validate", recipe]);
		assert.equal(validated.code, 0);
		assert.match(validated.stdout, /warning: the base model .* has no tokenizer/);
	});

	it("with a tokenizer, neither merge nor verify warns about it", async () => {
		const dir = await tempDir();
		const out = join(dir, "out");
		const merged = await runCli([await fixtureRecipe(dir, true), out]);
		assert.equal(merged.code, 0, merged.stderr);
		assert.doesNotMatch(merged.stderr, /tokenizer/);
		const verified = await runCli(["verify", out]);
		assert.equal(verified.code, 0);
		assert.doesNotMatch(verified.stderr, /tokenizer/);
	});
});

describe("a reader that stops early (moe-merge plan r.yml | head -1)", () => {
	it("ends the output quietly, exit 0, no crash", async () => {
		const dir = await tempDir();
		const recipe = await fixtureRecipe(dir, true);
		const child = spawn(process.execPath, [CLI, "plan", recipe], { stdio: ["ignore", "pipe", "pipe"] });
		child.stdout.destroy();
		let stderr = "";
		child.stderr.on("data", (d) => (stderr += d));
		const code = await new Promise<number | null>((done) => child.on("close", done));
		assert.equal(code, 0, stderr);
		assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
	});
});
