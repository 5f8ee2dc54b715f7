import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CHECK_TEXT } from "../../src/gguf/tokenizer/pre-tokenizer-names.js";
import { preTokenizerName } from "../../src/gguf/tokenizer/tokenizer-metadata.js";
import { REPO_ROOT } from "./helpers.js";

test("the pre-tokenizer check text is the converter's, character for character", () => {
	// sha256 of chktxt as Python holds it (convert_hf_to_gguf.py get_vocab_base_pre).
	assert.equal(createHash("sha256").update(CHECK_TEXT).digest("hex"), "a36179c1e2b1cfcfbfad1dc779addad2ffc778201e4cf0d538bddeafa2c526da");
});

test("the Qwen vocabulary is llama.cpp's qwen2 pre-tokenizer (the hash transformers' AutoTokenizer gives, e636dc30…)", async () => {
	const dir = join(REPO_ROOT, "tests/fixtures/tokenizers/qwen3");
	const json = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8"));
	const config = JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8"));
	assert.equal(preTokenizerName(join(dir, "tokenizer.json"), json, config), "qwen2");
});
