/**
 * A model whose only vocabulary is a SentencePiece tokenizer.model (no tokenizer.json): the GGUF holds
 * the tokens, scores and token types llama.cpp's converter writes (tests/fixtures/tokenizers/spm,
 * expected.json, made by make.py from the same sentencepiece calls the converter makes), and llama.cpp
 * tokenizes the 26 prompts of tests/fixtures/tokenization.json as the Hugging Face tokenizer does.
 * The protobuf reader is checked on bad bytes too.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeDenseModel } from "../../src/demo/make-dense-model.js";
import { convertToGguf } from "../../src/gguf-convert/convert-to-gguf.js";
import { readGgufHeader } from "../../src/gguf/read-gguf.js";
import { parseSentencePieceModel } from "../../src/gguf/tokenizer/sentencepiece-model.js";
import { ModelError } from "../../src/errors.js";
import { REPO_ROOT } from "./helpers.js";
import { runCli, writeRecipe } from "../merge/helpers.js";
import { loadGguf } from "./llama-cpp.js";

const SPM = join(REPO_ROOT, "tests/fixtures/tokenizers/spm");

interface Expected {
	vocab_size: number;
	tokens: string[];
	scores: number[];
	token_types: number[];
	prompts: string[];
	ids: number[][];
}

describe("a tokenizer.model-only vocabulary (SentencePiece, no tokenizer.json)", () => {
	let expected: Expected;
	let dir: string;
	let gguf: string;
	before(async () => {
		expected = JSON.parse(await readFile(join(SPM, "expected.json"), "utf8")) as Expected;
		dir = join(await mkdtemp(join(tmpdir(), "moe-merge-spm-")), "llama-spm");
		await makeDenseModel({ dir, seed: 3, shape: { modelType: "llama", hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 64, vocabSize: expected.vocab_size, tieWordEmbeddings: true } });
		for (const name of ["tokenizer.model", "tokenizer_config.json"]) await copyFile(join(SPM, name), join(dir, name));
		gguf = join(dir, "..", "llama-spm.gguf");
		await convertToGguf(dir, { output: gguf, type: "f32" });
	});
	after(() => rm(join(dir, ".."), { recursive: true, force: true }));

	test("tokens, scores and token types are the converter's; model llama, pre default; special ids from config.json", async () => {
		const { metadata } = await readGgufHeader(gguf);
		assert.equal(metadata.get("tokenizer.ggml.model"), "llama");
		assert.equal(metadata.get("tokenizer.ggml.pre"), "default");
		assert.deepEqual(metadata.get("tokenizer.ggml.tokens"), expected.tokens);
		assert.deepEqual(metadata.get("tokenizer.ggml.token_type"), expected.token_types);
		assert.deepEqual(metadata.get("tokenizer.ggml.scores"), expected.scores.map((s) => Math.fround(s)));
		assert.equal(metadata.get("tokenizer.ggml.bos_token_id"), 1);
		assert.equal(metadata.get("tokenizer.ggml.eos_token_id"), 2);
		assert.equal(metadata.get("tokenizer.ggml.add_bos_token"), true);
		assert.equal(metadata.get("tokenizer.ggml.add_eos_token"), false);
	});

	test("llama.cpp tokenizes the 26 prompts as the Hugging Face tokenizer does", async () => {
		const model = await loadGguf(gguf);
		try {
			for (const [i, prompt] of expected.prompts.entries()) {
				assert.deepEqual([model.tokens.bos, ...Array.from(model.tokenize(prompt, true))], expected.ids[i], JSON.stringify(prompt));
			}
		} finally {
			await model.dispose();
		}
	});

	test("added_tokens.json's tokens are USER_DEFINED (those beyond the embedding skipped, as the converter does)", async () => {
		const withAdded = join(dir, "..", "with-added");
		await makeDenseModel({ dir: withAdded, seed: 3, shape: { modelType: "llama", hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 64, vocabSize: expected.vocab_size, tieWordEmbeddings: true } });
		await copyFile(join(SPM, "tokenizer.model"), join(withAdded, "tokenizer.model"));
		await writeFile(join(withAdded, "added_tokens.json"), JSON.stringify({ "<extra>": 601, "<beyond>": 9999 }));
		const out = join(withAdded, "..", "with-added.gguf");
		await convertToGguf(withAdded, { output: out, type: "f32" });
		const { metadata } = await readGgufHeader(out);
		const tokens = metadata.get("tokenizer.ggml.tokens") as string[];
		assert.equal(tokens[601], "<extra>");
		assert.equal((metadata.get("tokenizer.ggml.token_type") as number[])[601], 4);
		assert.equal((metadata.get("tokenizer.ggml.scores") as number[])[601], -1000);
		assert.equal(tokens[600], "[PAD600]", "no tokenizer_config.json: id 600 is unused");
		assert.ok(!tokens.includes("<beyond>"));
	});

	test("merge --gguf of models with only tokenizer.model: the file the merge writes is moe-merge gguf's of its output", async () => {
		const root = join(dir, "..");
		const expert = join(root, "expert");
		await makeDenseModel({ dir: expert, seed: 4, shape: { modelType: "llama", hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 64, vocabSize: expected.vocab_size, tieWordEmbeddings: true } });
		const recipe = await writeRecipe(root, { base: dir, experts: [{ model: dir }, { model: expert }] });
		const out = join(root, "moe");
		const run = await runCli([recipe, out, "--random-seed", "5", "--gguf", "f16"]);
		assert.equal(run.code, 0, run.stderr);
		const converted = join(root, "moe-converted.gguf");
		await convertToGguf(out, { output: converted, type: "f16" });
		assert.ok((await readFile(join(out, "moe-F16.gguf"))).equals(await readFile(converted)));
		assert.deepEqual((await readGgufHeader(converted)).metadata.get("tokenizer.ggml.tokens"), expected.tokens);
	});

	test("more pieces than the embedding has rows: refused, naming the file", async () => {
		const small = join(dir, "..", "small");
		await makeDenseModel({ dir: small, seed: 3, shape: { modelType: "llama", hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 64, vocabSize: 500, tieWordEmbeddings: true } });
		await copyFile(join(SPM, "tokenizer.model"), join(small, "tokenizer.model"));
		await assert.rejects(convertToGguf(small, { output: join(small, "..", "small.gguf"), type: "f32" }), (e: Error) => e instanceof ModelError && /small\/tokenizer\.model: 600 pieces, more than the model's 500 embedding rows$/.test(e.message));
	});

	test("bytes that are not a SentencePiece model: a ModelError naming the file", async () => {
		const bytes = await readFile(join(SPM, "tokenizer.model"));
		assert.throws(() => parseSentencePieceModel("x/tokenizer.model", bytes.subarray(0, bytes.length - 3)), (e: Error) => e instanceof ModelError && /^x\/tokenizer\.model: not a SentencePiece model: .*past the end/.test(e.message));
		assert.throws(() => parseSentencePieceModel("x/tokenizer.model", new TextEncoder().encode('{"model": "json"}')), (e: Error) => e instanceof ModelError && /x\/tokenizer\.model: not a SentencePiece model/.test(e.message));
		assert.throws(() => parseSentencePieceModel("x/tokenizer.model", new Uint8Array(0)), /it has no pieces/);
		const model = parseSentencePieceModel("tokenizer.model", bytes);
		assert.equal(model.pieces.length, 600);
		assert.equal(model.modelType, 2, "trained as BPE");
	});
});
