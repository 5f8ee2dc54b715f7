/** mergekit-moe's and LazyMergekit's command lines run unchanged with `mergekit-moe` replaced by `moe-merge`. */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { applyMergekitOptions } from "../../src/cli/mergekit-options.js";
import { FIXTURES, runCli, tempDir } from "./helpers.js";

const RECIPE = join(FIXTURES, "recipes", "mixtral-hidden.yml");

describe("mergekit-moe's command line", () => {
	it("LazyMergekit's options: the merge runs, and one line names the options that do nothing here and why", async () => {
		const out = join(await tempDir(), "merge");
		// LazyMergekit's cell: mergekit-moe config.yaml merge --copy-tokenizer --allow-crimes --out-shard-size 1B --lazy-unpickle --trust-remote-code
		const run = await runCli([RECIPE, out, "--copy-tokenizer", "--allow-crimes", "--out-shard-size", "1B", "--lazy-unpickle", "--trust-remote-code"]);
		assert.equal(run.code, 0, run.stderr);
		assert.ok((await readdir(out)).includes("model.safetensors"));
		const notes = run.stderr.split("\n").filter((l) => l.startsWith("note: mergekit-moe option"));
		assert.equal(notes.length, 1, run.stderr);
		assert.match(notes[0]!, /--allow-crimes \(.+\); --lazy-unpickle \(.+\); --trust-remote-code \(moe-merge never runs a model's code\)/);
		assert.doesNotMatch(notes[0]!, /copy-tokenizer|out-shard-size/);
	});

	it("GPU and quantization flags, -j, -v, --quiet and --no-write-model-card are accepted, and said so", async () => {
		const out = join(await tempDir(), "merge");
		const run = await runCli([RECIPE, out, "--cuda", "--device", "cuda:0", "--load-in-4bit", "--no-low-cpu-memory", "-j", "1", "-vv", "--quiet", "--no-write-model-card", "--random-seed", "3"]);
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stderr, /note: mergekit-moe options with no effect in moe-merge: /);
		assert.match(run.stderr, /--no-low-cpu-memory \(memory is bounded by streaming\)/);
		assert.match(run.stderr, /--cuda \(moe-merge computes on the CPU\)/);
		assert.match(run.stderr, /--device \(moe-merge computes on the CPU\); --load-in-4bit/);
		assert.match(run.stderr, /--no-write-model-card \(the model card is always written/);
		// --quiet: no progress lines.
		assert.doesNotMatch(run.stderr, /writing: |gates: layer/);
		assert.ok((await readdir(out)).includes("README.md"));
	});

	it("-j is --threads and -v is --verbose; our own options win", () => {
		assert.deepEqual(applyMergekitOptions({ numThreads: 3, verbosity: 2 }).options, { numThreads: 3, verbosity: 2, threads: 3, verbose: true });
		assert.equal(applyMergekitOptions({ numThreads: 3, threads: 1 }).options.threads, 1);
		assert.equal(applyMergekitOptions({}).note, undefined);
	});
});
