import assert from "node:assert/strict";
import { cp, mkdir, open, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { caseModels, type CliResult, FIXTURES, runCli, tempDir, writeRecipe } from "./helpers.js";

/** The one promise every failure keeps: exit 1, one clear message, and no output or staging folder left. */
async function assertCleanFailure(dir: string, result: CliResult, message: RegExp): Promise<void> {
	assert.equal(result.code, 1, `exit code 1 expected; stderr: ${result.stderr}`);
	assert.match(result.stderr, message);
	assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace without --verbose");
	const left = (await readdir(dir)).filter((f) => f === "out" || f.includes("moe-merge-partial"));
	assert.deepEqual(left, [], "no output and no staging folder may remain");
}

const rope = caseModels("llama-rope-llama3");

describe("CLI failures are clear, exit 1 and leave nothing behind", () => {
	it("malformed YAML names file:line:col", async () => {
		const dir = await tempDir();
		const file = join(dir, "bad.yml");
		await writeFile(file, `base_model: ${rope.base}\nexperts:\n  - source_model: [unclosed\n`);
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /bad\.yml:\d+:\d+: /);
	});

	it("an unknown field suggests the known one", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a, extra: "noise_scal: 0.1" }, { model: rope.b }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /recipe\.yml:\d+:\d+: experts\[0\]\.noise_scal: unknown field; did you mean "noise_scale"\?/);
	});

	it("a wrong type is reported with what was expected", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }], extra: "experts_per_token: two" });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /experts_per_token: expected an integer/);
	});

	it("a missing model names the folder and the recipe position", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: join(dir, "no-such-model") }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /recipe\.yml:\d+:\d+: .*no-such-model.* does not exist/);
	});

	it("mismatched shapes are refused before anything is written, listing each difference", async () => {
		const dir = await tempDir();
		const other = caseModels("llama-headdim-f32");
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: other.a }] });
		const result = await runCli([file, join(dir, "out")]);
		await assertCleanFailure(dir, result, /do not have the same shape/);
		assert.match(result.stderr, /num_key_value_heads is 1, but the base model .* has 2/);
		assert.match(result.stderr, /head_dim is 32, but the base model .* has 16/);
	});

	it("a model Mixtral cannot express (Qwen2 biases) is refused naming the alternative", async () => {
		const dir = await tempDir();
		const q = join(FIXTURES, "dense", "qwen2-bias", "base");
		const file = await writeRecipe(dir, { base: q, experts: [{ model: q }, { model: q }] });
		const result = await runCli([file, join(dir, "out"), "--i-understand-this-is-not-useful-without-training"]);
		await assertCleanFailure(dir, result, /Mixtral.*qwen2|qwen2.*Mixtral/i);
	});

	it("a truncated input shard is named as truncated", async () => {
		const dir = await tempDir();
		const broken = join(dir, "broken");
		await cp(rope.a, broken, { recursive: true });
		const shard = join(broken, "model.safetensors");
		await truncate(shard, (await stat(shard)).size - 1000);
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: broken }, { model: rope.b }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /broken\/model\.safetensors.*truncated/);
	});

	it("a corrupt safetensors header is named with its cause", async () => {
		const dir = await tempDir();
		const broken = join(dir, "broken");
		await cp(rope.a, broken, { recursive: true });
		const handle = await open(join(broken, "model.safetensors"), "r+");
		await handle.write(Buffer.from("{\"x\":"), 0, 5, 8);
		await handle.close();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: broken }, { model: rope.b }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /broken\/model\.safetensors: invalid safetensors file/);
	});

	it("a model with only pickle weights is refused", async () => {
		const dir = await tempDir();
		const pickle = join(dir, "pickle");
		await mkdir(pickle);
		await cp(join(rope.a, "config.json"), join(pickle, "config.json"));
		await writeFile(join(pickle, "pytorch_model.bin"), "not really");
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: pickle }, { model: rope.b }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /only PyTorch pickle weights/);
	});

	it("every expert the same model is refused unless the flag is given", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.a }] });
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /--i-understand-this-is-not-useful-without-training/);
		const ok = await runCli([file, join(dir, "out"), "--i-understand-this-is-not-useful-without-training", "--json"]);
		assert.equal(ok.code, 0, ok.stderr);
	});

	it("an existing non-empty output folder is refused unless --overwrite", async () => {
		const dir = await tempDir();
		const out = join(dir, "out");
		await mkdir(out);
		await writeFile(join(out, "keep.txt"), "mine");
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		const refused = await runCli([file, out]);
		assert.equal(refused.code, 1);
		assert.match(refused.stderr, /already exists and is not empty.*\n.*--overwrite/);
		assert.equal(await readFile(join(out, "keep.txt"), "utf8"), "mine");
		const replaced = await runCli([file, out, "--overwrite"]);
		assert.equal(replaced.code, 0, replaced.stderr);
		assert.ok((await readdir(out)).includes("model.safetensors"));
		assert.ok(!(await readdir(out)).includes("keep.txt"));
	});

	it("a write failure (file size limit standing in for a full disk) leaves no output", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		// 200 blocks of 512 bytes: the first shard cannot be completed; SIGXFSZ ignored so write() fails with EFBIG.
		const result = await runCli([file, join(dir, "out")], { shellPrefix: "trap '' XFSZ; ulimit -f 200" });
		await assertCleanFailure(dir, result, /model\.safetensors: cannot write .*EFBIG/);
	});

	it("a prompt that is not valid for the base model's tokenizer setup is refused before writing (hidden gates, empty bos-less prompt)", async () => {
		const dir = await tempDir();
		const models = join(FIXTURES, "models");
		// A chat prompt needs a chat template, which the fixture tokenizer does not have.
		const file = join(dir, "recipe.yml");
		await writeFile(
			file,
			[`base_model: ${models}/llama-base`, "experts:", `  - source_model: ${models}/llama-expert-a`, "    positive_prompts:", "      - messages: [{role: user, content: hi}]", `  - source_model: ${models}/llama-expert-b`, "    positive_prompts: [story]", ""].join("\n"),
		);
		await assertCleanFailure(dir, await runCli([file, join(dir, "out")]), /chat template/i);
	});

	it("--verbose adds the stack trace", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: join(dir, "missing") }] });
		const result = await runCli([file, join(dir, "out"), "--verbose"]);
		assert.equal(result.code, 1);
		assert.match(result.stderr, /^\s+at /m);
	});

	it("--json reports errors as JSON on stdout", async () => {
		const dir = await tempDir();
		const file = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: join(dir, "missing") }] });
		const result = await runCli([file, join(dir, "out"), "--json"]);
		assert.equal(result.code, 1);
		const report = JSON.parse(result.stdout);
		assert.equal(report.ok, false);
		assert.match(report.errors[0].message, /missing/);
	});
});
