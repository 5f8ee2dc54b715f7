import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { makeDenseModel } from "../../src/demo/make-dense-model.js";
import { CLI, FIXTURES, ROOT, caseModels, runCli, tempDir, writeRecipe } from "./helpers.js";

const rope = caseModels("llama-rope-llama3");

describe("moe-merge commands", () => {
	it("--help works for the program and each command", async () => {
		for (const args of [["--help"], ["merge", "--help"], ["plan", "--help"], ["validate", "--help"]]) {
			const result = await runCli(args);
			assert.equal(result.code, 0, result.stderr);
			assert.match(result.stdout, /Usage: moe-merge/);
		}
		const help = (await runCli(["--help"])).stdout;
		for (const command of ["merge", "plan", "validate"]) assert.match(help, new RegExp(`^  ${command} \\[options\\]`, "m"));
	});

	it("merges with the recipe as first argument, -o works too, and --json prints a summary", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		const result = await runCli([file, "-o", join(dir, "out"), "--json", "--random-seed", "5"]);
		assert.equal(result.code, 0, result.stderr);
		const summary = JSON.parse(result.stdout);
		assert.equal(summary.ok, true);
		assert.equal(summary.architecture, "Mixtral");
		assert.equal(summary.seed, 5);
		assert.deepEqual(summary.shards, ["model.safetensors"]);
		assert.deepEqual((await readdir(join(dir, "out"))).sort(), summary.files);
		assert.ok(summary.files.includes("moe-merge-recipe.yml") && summary.files.includes("README.md"));
		assert.equal(await readFile(join(dir, "out", "moe-merge-recipe.yml"), "utf8"), await readFile(file, "utf8"));
	});

	it("the model card has Hub front matter and records seed and sources", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		assert.equal((await runCli([file, join(dir, "out"), "--random-seed", "99"])).code, 0);
		const card = await readFile(join(dir, "out", "README.md"), "utf8");
		const front = /^---\n([\s\S]*?)\n---\n/.exec(card)?.[1] ?? "";
		// Local folders without a Hub id in their config: not in base_model (the Hub accepts only Hub ids), said in the text.
		assert.doesNotMatch(front, /base_model/);
		assert.match(card, /Not listed in `base_model`: `[^`]*base`, `[^`]*expert-a`, `[^`]*expert-b`/);
		assert.match(front, /tags:\n  - moe\n  - frankenmoe\n  - merge\n  - moe-merge/);
		assert.match(front, /library_name: transformers/);
		assert.match(card, /--random-seed 99/);
		assert.match(card, /expert 1 \| `.*expert-b`/);
	});

	it("copies tokenizer and generation config byte for byte, or skips the tokenizer with --no-copy-tokenizer", async () => {
		const dir = await tempDir();
		const base = join(FIXTURES, "models", "llama-base");
		const experts = [{ model: join(FIXTURES, "models", "llama-expert-a") }, { model: join(FIXTURES, "models", "llama-expert-b") }];
		const file = await writeRecipe(dir, { base, experts });
		assert.equal((await runCli([file, join(dir, "with")])).code, 0);
		for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
			assert.ok((await readFile(join(dir, "with", f))).equals(await readFile(join(base, f))), f);
		}
		assert.equal((await runCli([file, join(dir, "without"), "--no-copy-tokenizer"])).code, 0);
		const files = await readdir(join(dir, "without"));
		assert.ok(files.includes("generation_config.json") && !files.includes("tokenizer.json"));
	});

	it("is deterministic for a seed: same seed, same bytes; another seed, other routers", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, {
			base: rope.base,
			experts: [{ model: rope.a, extra: "noise_scale: 0.01" }, { model: rope.b, extra: "residual_scale: 0.5" }],
		});
		for (const [out, seed] of [["s1", "11"], ["s2", "11"], ["s3", "12"]]) {
			assert.equal((await runCli([file, join(dir, out), "--random-seed", seed])).code, 0);
		}
		const bytes = (d: string) => readFile(join(dir, d, "model.safetensors"));
		assert.ok((await bytes("s1")).equals(await bytes("s2")));
		assert.ok(!(await bytes("s1")).equals(await bytes("s3")));
	});

	it("validate checks recipes without weights and exits 1 when any fails", async () => {
		const dir = await tempDir();
		const good = join(FIXTURES, "recipes", "mixtral-hidden.yml");
		const bad = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: join(dir, "gone") }], name: "bad.yml" });
		const ok = await runCli(["validate", good, "--json"]);
		assert.equal(ok.code, 0, ok.stderr);
		assert.deepEqual(JSON.parse(ok.stdout).recipes.map((r: { ok: boolean }) => r.ok), [true]);
		const mixed = await runCli(["validate", good, bad, "--json"]);
		assert.equal(mixed.code, 1);
		const report = JSON.parse(mixed.stdout);
		assert.equal(report.ok, false);
		assert.deepEqual(report.recipes.map((r: { ok: boolean }) => r.ok), [true, false]);
		assert.match(report.recipes[1].errors[0].message, /gone/);
		const text = await runCli(["validate", good, bad]);
		assert.match(text.stdout, /ok: .*mixtral-hidden\.yml/);
		assert.match(text.stderr, /bad\.yml:\d+:\d+: /);
	});

	it("plan prints architecture, tensors, sizes and the target's free space, and writes nothing", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		const result = await runCli(["plan", file, join(dir, "out"), "--json", "--out-shard-size", "300K"]);
		assert.equal(result.code, 0, result.stderr);
		const plan = JSON.parse(result.stdout);
		assert.equal(plan.architecture, "Mixtral");
		// embeddings, final norm, lm_head; per layer 4 attention + 2 norms + 2 experts x 3 + 1 router
		assert.equal(plan.tensors, 3 + 2 * (6 + 2 * 3 + 1));
		assert.ok(plan.shards.length > 1);
		assert.equal(plan.diskBytes, plan.shards.reduce((s: number, x: { bytes: number }) => s + x.bytes, 0));
		assert.ok(plan.output.freeBytes > 0);
		assert.deepEqual(plan.models.map((m: { roles: string[] }) => m.roles), [["base"], ["expert 0"], ["expert 1"]]);
		assert.ok(!(await readdir(dir)).includes("out"));
		const text = await runCli(["plan", file]);
		assert.match(text.stdout, /output: Mixtral \(per-expert layout\), bfloat16/);
	});

	it("hidden gates through the CLI: a progress line per layer and per-layer gate stats in --json", async () => {
		const dir = await tempDir();
		const recipe = join(FIXTURES, "recipes", "mixtral-hidden.yml");
		const text = await runCli([recipe, join(dir, "text")]);
		assert.equal(text.code, 0, text.stderr);
		// Routers read the inputs of layers 0 and 1: only layer 0 runs, while the shards are written.
		assert.match(text.stderr, /gates: layer 1 of 1 done/);
		assert.match(text.stderr, /writing: 100%/);
		const json = await runCli([recipe, join(dir, "json"), "--json", "--threads", "1"]);
		assert.equal(json.code, 0, json.stderr);
		const gates = JSON.parse(json.stdout).gates;
		assert.equal(gates.mode, "hidden");
		assert.deepEqual(gates.layers.map((l: { layer: number }) => l.layer), [0, 1]);
		assert.ok(gates.layers.every((l: { conditionNumber: number }) => l.conditionNumber >= 1));
	});

	it("plan of a hidden-state recipe lays out the routers without running the model", async () => {
		const result = await runCli(["plan", join(FIXTURES, "recipes", "mixtral-hidden.yml"), "--json"]);
		assert.equal(result.code, 0, result.stderr);
		const plan = JSON.parse(result.stdout);
		assert.equal(plan.gateMode, "hidden");
		assert.equal(plan.tensors, 2 + 2 * (6 + 3 * 3 + 1));
	});

	it("Ctrl-C during a merge before any shard is complete removes the partial output and exits 130", async () => {
		const dir = await tempDir();
		const shape = { modelType: "llama" as const, hiddenSize: 512, numLayers: 8, numHeads: 8, numKvHeads: 4, intermediateSize: 2048, vocabSize: 32000 };
		for (const [name, seed] of [["a", 1], ["b", 2]] as const) await makeDenseModel({ dir: join(dir, name), shape, seed, fill: "fast" });
		const file = await writeRecipe(dir, { base: join(dir, "a"), experts: [{ model: join(dir, "a") }, { model: join(dir, "b") }, { model: join(dir, "b"), extra: "noise_scale: 0.1" }, { model: join(dir, "a"), extra: "noise_scale: 0.1" }] });
		const child = spawn(process.execPath, [CLI, file, join(dir, "out")], { cwd: ROOT });
		let stderr = "";
		let sent = false;
		const code = await new Promise<number | null>((resolve) => {
			child.stderr.on("data", (d) => {
				stderr += d;
				// Twice, like an impatient user: the second one must not cut the clean-up short.
				if (/writing: /.test(stderr) && !sent) {
					sent = true;
					child.kill("SIGINT");
					child.kill("SIGINT");
				}
			});
			child.on("close", resolve);
		});
		assert.equal(code, 130, stderr);
		assert.match(stderr, /interrupted by SIGINT; no shard was complete, nothing is kept/);
		assert.deepEqual((await readdir(dir)).filter((f) => f === "out" || f.includes("partial")), []);
	});
});
