/** `moe-merge gguf` and convertToGguf: layouts that must give the same file, and bad input refused before anything is written. */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { convertToGguf } from "../../src/gguf-convert/convert-to-gguf.js";
import { permuteRows } from "../../src/gguf/tensor-data.js";
import { REPO_ROOT } from "./helpers.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const MODELS = join(REPO_ROOT, "tests/fixtures/models");
let root: string;

before(async () => {
	root = await mkdtemp(join(tmpdir(), "gguf-convert-"));
});
after(() => rm(root, { recursive: true, force: true }));

function cli(...args: string[]) {
	return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: root });
}

/** A copy of llama-base with one file changed. */
async function llamaCopy(name: string, change?: (dir: string) => Promise<void>): Promise<string> {
	const dir = join(root, name);
	await cp(join(MODELS, "llama-base"), dir, { recursive: true });
	await change?.(dir);
	return dir;
}

test("the fused layout (transformers 5's stacked experts) gives the same GGUF file as the per-expert layout", async () => {
	const recipe = join(root, "fused.yml");
	await writeFile(recipe, [`base_model: ${join(MODELS, "llama-base")}`, "gate_mode: random", "experts:", `  - source_model: ${join(MODELS, "llama-expert-a")}`, `  - source_model: ${join(MODELS, "llama-expert-b")}`, ""].join("\n"));
	for (const layout of ["per-expert", "fused"]) {
		const merged = cli(recipe, join(root, `moe-${layout}`), "--random-seed", "3", "--layout", layout);
		assert.equal(merged.status, 0, merged.stderr);
		await convertToGguf(join(root, `moe-${layout}`), { output: join(root, `${layout}.gguf`), type: "q8_0", name: "moe" });
	}
	assert.ok((await readFile(join(root, "per-expert.gguf"))).equals(await readFile(join(root, "fused.gguf"))));
});

test("permuteRows is the converter's reshape(heads, 2, half, cols).swapaxes(1, 2)", () => {
	// 2 heads of 4 rows (half = 2), 1 column: rows of head h are [h0 h1 | h2 h3] -> interleaved h0 h2 h1 h3.
	const out = permuteRows(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2);
	assert.deepEqual(Array.from(out), [0, 2, 1, 3, 4, 6, 5, 7]);
});

test("moe-merge gguf writes <name>-<TYPE>.gguf and prints its size and sha256", async () => {
	const run = cli("gguf", join(MODELS, "llama-base"), "--type", "q8_0");
	assert.equal(run.status, 0, run.stderr);
	assert.match(run.stdout, /^wrote llama-base-Q8_0\.gguf \(20 tensors, \d+ bytes, sha256 [0-9a-f]{64}\)/);
	const again = cli("gguf", join(MODELS, "llama-base"), "--type", "q8_0");
	assert.equal(again.status, 1);
	assert.match(again.stderr, /llama-base-Q8_0\.gguf exists/);
});

const BAD_INPUT: [string, (dir: string) => Promise<void>, RegExp][] = [
	["an architecture llama.cpp is not given", async (dir) => {
		const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
		await writeFile(join(dir, "config.json"), JSON.stringify({ ...config, model_type: "gemma" }));
	}, /model_type gemma has no GGUF description/],
	["no tokenizer.json and no tokenizer.model", (dir) => rm(join(dir, "tokenizer.json")), /no tokenizer\.json and no tokenizer\.model; a GGUF file needs the vocabulary/],
	["only a tokenizer.model that is not a SentencePiece model", async (dir) => {
		await rm(join(dir, "tokenizer.json"));
		await writeFile(join(dir, "tokenizer.model"), Buffer.from([0x0a, 0x50, 0x0a, 0x03]));
	}, /tokenizer\.model: not a SentencePiece model: a field of \d+ bytes runs past the end/],
	["a byte-level vocabulary whose pre-tokenizer llama.cpp does not know", async (dir) => {
		const json = JSON.parse(await readFile(join(REPO_ROOT, "tests/fixtures/tokenizers/qwen3/tokenizer.json"), "utf8"));
		// Another split regex: the check text tokenizes differently, so the hash is not in the table.
		json.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
		json.model.vocab = Object.fromEntries(Object.entries(json.model.vocab as Record<string, number>).filter(([, id]) => id < 32000));
		json.model.merges = (json.model.merges as unknown[]).slice(0, 20000);
		json.added_tokens = [];
		await writeFile(join(dir, "tokenizer.json"), JSON.stringify(json));
	}, /llama\.cpp does not know this vocabulary's pre-tokenizer \(check hash [0-9a-f]{64}\)/],
	["a dtype that cannot be converted", async (dir) => {
		// The embeddings' dtype changed in place to another 2-byte type (a space keeps the header's length).
		const bytes = await readFile(join(dir, "model.safetensors"));
		const at = bytes.indexOf('"model.embed_tokens.weight":{"dtype":"BF16"');
		bytes.write('"model.embed_tokens.weight":{"dtype":"I16" ', at);
		await writeFile(join(dir, "model.safetensors"), bytes);
	}, /model\.safetensors: tensor model\.embed_tokens\.weight is I16; GGUF conversion reads F32, F16 and BF16 only/],
	["a tokenizer that is not BPE", async (dir) => {
		const json = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8"));
		await writeFile(join(dir, "tokenizer.json"), JSON.stringify({ ...json, model: { ...json.model, type: "WordPiece" } }));
	}, /tokenizer\.json: a WordPiece tokenizer; llama\.cpp's GGUF vocabularies written here are BPE/],
	["a token id beyond the embedding", async (dir) => {
		const json = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8"));
		json.added_tokens.push({ id: 32005, content: "<extra>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false });
		await writeFile(join(dir, "tokenizer.json"), JSON.stringify(json));
	}, /tokenizer\.json: token id 32005 is beyond the model's 32000 embedding rows/],
	["a tensor with no GGUF name", async (dir) => {
		// Renamed in place (same length, so the header stays valid).
		const bytes = await readFile(join(dir, "model.safetensors"));
		const at = bytes.indexOf("model.layers.0.input_layernorm.weight");
		bytes.write("model.layers.0.extra_layernorm.weight", at);
		await writeFile(join(dir, "model.safetensors"), bytes);
	}, /1 tensor\(s\) have no name in llama\.cpp's llama architecture \(model\.layers\.0\.extra_layernorm\.weight\)/],
];

for (const [what, change, message] of BAD_INPUT) {
	test(`refused before anything is written: ${what}`, async () => {
		const dir = await llamaCopy(what.replace(/\W+/g, "-"), change);
		const out = join(root, "out", `${what.replace(/\W+/g, "-")}.gguf`);
		await rm(join(root, "out"), { recursive: true, force: true });
		await mkdir(join(root, "out"));
		const run = cli("gguf", dir, "-o", out);
		assert.equal(run.status, 1, run.stderr);
		assert.match(run.stderr, message);
		assert.equal(run.stderr.trim().split("\n").filter((l) => l.startsWith("error:")).length, 1);
		assert.deepEqual(await readdir(join(root, "out")), []);
	});
}

test("refused before anything is written: an MoE with an expert missing", async () => {
	const dir = join(root, "expert-missing");
	await cp(join(REPO_ROOT, "tests/fixtures/report/mixtral-per-expert"), dir, { recursive: true });
	// Expert 1's projections of layer 0 renamed in place to expert 7 (same length).
	const bytes = await readFile(join(dir, "model.safetensors"));
	for (const w of ["w1", "w2", "w3"]) {
		const name = `model.layers.0.block_sparse_moe.experts.1.${w}.weight`;
		bytes.write(name.replace("experts.1.", "experts.7."), bytes.indexOf(name));
	}
	await writeFile(join(dir, "model.safetensors"), bytes);
	await rm(join(root, "out"), { recursive: true, force: true });
	await mkdir(join(root, "out"));
	const run = cli("gguf", dir, "-o", join(root, "out", "moe.gguf"));
	assert.equal(run.status, 1, run.stderr);
	assert.match(run.stderr, /^error: .*expert-missing: blk\.0\.ffn_\w+_exps\.weight: expert 1 is missing \(the experts found are 0, 2, 7\)$/m);
	assert.deepEqual(await readdir(join(root, "out")), []);
});

test("moe-merge verify checks a GGUF file in the folder: header and tensor table against the checkpoint", async () => {
	const dir = await llamaCopy("verify-gguf");
	const file = join(dir, "llama-base-Q8_0.gguf");
	assert.equal(cli("gguf", dir, "--type", "q8_0", "-o", file).status, 0);
	const ok = cli("verify", dir);
	assert.equal(ok.status, 0, ok.stderr);
	const bytes = await readFile(file);
	// A token changed in place (same length): the metadata no longer is the checkpoint's.
	const at = bytes.indexOf("<unk>");
	bytes.write("<UNK>", at);
	await writeFile(file, bytes);
	const changed = cli("verify", dir);
	assert.equal(changed.status, 1);
	assert.match(changed.stderr, /llama-base-Q8_0\.gguf: metadata tokenizer\.ggml\.tokens differs from what the checkpoint gives/);
	await writeFile(file, bytes.subarray(0, bytes.length - 1000));
	const truncated = cli("verify", dir);
	assert.equal(truncated.status, 1);
	assert.match(truncated.stderr, /llama-base-Q8_0\.gguf: tensor .* past the end of the file .*truncated/);
});
