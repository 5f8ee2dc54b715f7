import assert from "node:assert/strict";
import { cp, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { MODELS, type CliResult, referenceNames, runCli, tempDir, writeCheckpoint, writeRecipe } from "./helpers.js";

const SHARD_1 = "model-00001-of-00002.safetensors";
const SHARD_2 = "model-00002-of-00002.safetensors";
const INDEX = "model.safetensors.index.json";

function assertProblems(result: CliResult, ...patterns: RegExp[]): void {
	assert.equal(result.code, 1, `exit 1 expected; stdout: ${result.stdout} stderr: ${result.stderr}`);
	for (const p of patterns) assert.match(result.stderr, p);
	assert.doesNotMatch(result.stderr, /^\s+at /m);
}

// Created here, not in before(): a folder made in a hook would be removed when the hook ends.
const work = await tempDir();
const merged = join(work, "merged");
const fused = join(work, "fused");

describe("moe-merge verify", () => {
	before(async () => {
		const recipe = await writeRecipe(work, {
			base: join(MODELS, "llama-base"),
			experts: [{ model: join(MODELS, "llama-expert-a") }, { model: join(MODELS, "llama-expert-b") }],
		});
		for (const [out, extra] of [[merged, ["--out-shard-size", "1M"]], [fused, ["--layout", "fused"]]] as const) {
			const result = await runCli([recipe, out, "--random-seed", "3", ...extra]);
			assert.equal(result.code, 0, result.stderr);
		}
	});

	/** A copy of the good sharded output to break. */
	async function copyOfMerged(name: string): Promise<string> {
		const dir = join(work, name);
		await cp(merged, dir, { recursive: true });
		return dir;
	}

	it("accepts our sharded output, hashes included, and our fused output with --values", async () => {
		const result = await runCli(["verify", merged]);
		assert.equal(result.code, 0, result.stderr);
		assert.match(result.stdout, /^ok: .*merged \(2 shard\(s\), 28 tensors, 9 file hashes\)/);
		const json = await runCli(["verify", fused, "--values", "--json"]);
		assert.equal(json.code, 0, json.stderr);
		const report = JSON.parse(json.stdout);
		assert.equal(report.ok, true);
		assert.equal(report.scannedTensors, report.tensors);
		assert.deepEqual(report.problems, []);
	});

	it("names the shard whose byte was flipped (sha256 of the lock)", async () => {
		const dir = await copyOfMerged("flipped");
		const handle = await open(join(dir, SHARD_2), "r+");
		const size = (await handle.stat()).size;
		const byte = Buffer.alloc(1);
		await handle.read(byte, 0, 1, size - 10);
		byte[0]! ^= 0x01;
		await handle.write(byte, 0, 1, size - 10);
		await handle.close();
		const result = await runCli(["verify", dir]);
		assertProblems(result, new RegExp(`flipped/${SHARD_2}: sha256 differs`));
		assert.doesNotMatch(result.stderr, new RegExp(SHARD_1), "the other shard is fine");
	});

	it("one flipped byte in a shard header: the cause first, its consequences folded into one line", async () => {
		const dir = await copyOfMerged("header");
		const handle = await open(join(dir, SHARD_2), "r+");
		const byte = Buffer.alloc(1);
		await handle.read(byte, 0, 1, 12);
		byte[0]! ^= 0x01;
		await handle.write(byte, 0, 1, 12);
		await handle.close();
		const result = await runCli(["verify", dir, "--json"]);
		assert.equal(result.code, 1, result.stderr);
		const problems = (JSON.parse(result.stdout) as { problems: { file: string; message: string }[] }).problems;
		assert.equal(problems[0]!.file, SHARD_2);
		assert.match(problems[0]!.message, /invalid safetensors file/);
		assert.deepEqual(problems.slice(1).map((p) => p.file), [SHARD_2, "config.json"]);
		assert.match(problems[1]!.message, /sha256 differs/);
		assert.match(problems[2]!.message, new RegExp(`implies \\d+ tensor\\(s\\) that no readable shard holds \\(".*", \\.\\.\\.\\): a consequence of ${SHARD_2}, which cannot be read \\(above\\)`));
		const text = await runCli(["verify", dir]);
		assert.match(text.stderr, /^3 problem\(s\)/m);
	});

	it("names a truncated shard, without the lock too", async () => {
		const dir = await copyOfMerged("truncated");
		await rm(join(dir, "moe-merge.lock.json"));
		await truncate(join(dir, SHARD_1), (await stat(join(dir, SHARD_1))).size - 100);
		assertProblems(await runCli(["verify", dir]), new RegExp(`truncated/${SHARD_1}: .*truncated`));
	});

	it("names an index entry whose tensor no shard holds, and a shard the index forgets", async () => {
		const dir = await copyOfMerged("index");
		await rm(join(dir, "moe-merge.lock.json"));
		const index = JSON.parse(await readFile(join(dir, INDEX), "utf8"));
		index.weight_map["model.layers.7.mlp.ghost.weight"] = SHARD_1;
		await writeFile(join(dir, INDEX), JSON.stringify(index));
		await cp(join(dir, SHARD_2), join(dir, "model-00003-of-00002.safetensors"));
		assertProblems(
			await runCli(["verify", dir]),
			new RegExp(`index/${INDEX}: names tensor "model.layers.7.mlp.ghost.weight" in ${SHARD_1}, which does not hold it`),
			/model-00003-of-00002\.safetensors: is not named by/,
			/model-00003-of-00002\.safetensors: holds \d+ tensor\(s\) that model-00002-of-00002\.safetensors holds too \("model\.layers/,
		);
	});

	it("names config.json when it disagrees with the tensors (expert count, sizes)", async () => {
		const dir = await copyOfMerged("config");
		await rm(join(dir, "moe-merge.lock.json"));
		const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
		await writeFile(join(dir, "config.json"), JSON.stringify({ ...config, num_local_experts: 3, intermediate_size: config.intermediate_size * 2 }));
		assertProblems(
			await runCli(["verify", dir]),
			/config\.json: implies tensor "model\.layers\.0\.block_sparse_moe\.experts\.2\.w1\.weight" .* which no shard holds/,
			/config\.json: implies tensor "model\.layers\.0\.block_sparse_moe\.gate\.weight" \[3, \d+\], but model-0000\d-of-00002\.safetensors has it as \[2, \d+\]/,
		);
	});

	it("accepts a mergekit-moe checkpoint (fused layout, tied embeddings, transformers 5 config) and names NaN/Inf with --values", async () => {
		// Names, shapes and config of the real mergekit-moe output in tests/fixtures/expected.
		const expected = join(MODELS, "..", "expected", "mixtral-hidden");
		const config = JSON.parse(await readFile(join(expected, "mergekit-config.json"), "utf8"));
		const listing = JSON.parse(await readFile(join(expected, "mergekit-tensors.json"), "utf8")) as Record<string, { shape: number[] }>;
		const shapes = Object.fromEntries(Object.entries(listing).map(([name, { shape }]) => [name, shape]));
		const good = await writeCheckpoint(join(work, "mergekit"), config, shapes);
		const ok = await runCli(["verify", good, "--values"]);
		assert.equal(ok.code, 0, ok.stderr);
		assert.match(ok.stderr, /note: no moe-merge.lock.json/);
		// Tied embeddings with the head kept anyway (some checkpoints do; loaders ignore it).
		const withHead = await writeCheckpoint(join(work, "mergekit-head"), config, { ...shapes, "lm_head.weight": shapes["model.embed_tokens.weight"]! });
		assert.equal((await runCli(["verify", withHead])).code, 0);
		const bad = await writeCheckpoint(join(work, "mergekit-nan"), config, shapes, (name, data) => {
			if (name === "model.layers.1.mlp.experts.down_proj") data.set([0xc0, 0x7f], 20); // bf16 NaN at element 10
			if (name === "model.norm.weight") data.set([0x80, 0x7f], 0); // bf16 +Inf
		});
		assert.equal((await runCli(["verify", bad])).code, 0, "without --values the values are not read");
		assertProblems(
			await runCli(["verify", bad, "--values"]),
			/model\.safetensors: tensor "model\.layers\.1\.mlp\.experts\.down_proj" holds 1 NaN and 0 infinite value\(s\) of 6144 \(first at element 10\)/,
			/tensor "model\.norm\.weight" holds 0 NaN and 1 infinite/,
		);
	});

	it("accepts Qwen2-MoE and Qwen3-MoE checkpoints as transformers 4 and 5 lay them out", async () => {
		for (const version of [4, 5] as const) {
			for (const [modelType, { config, tensors }] of Object.entries((await referenceNames(version)).models)) {
				const dir = await writeCheckpoint(join(work, `${modelType}-${version}`), config, tensors);
				const result = await runCli(["verify", dir]);
				assert.equal(result.code, 0, `${modelType} transformers ${version}: ${result.stderr}`);
			}
		}
	});

	it("a missing folder is one clear error", async () => {
		const result = await runCli(["verify", join(work, "nowhere")]);
		assert.equal(result.code, 1);
		assert.match(result.stderr, /^error: .*nowhere is not a folder/);
	});
});
