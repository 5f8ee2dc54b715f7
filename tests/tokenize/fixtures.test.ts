import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { GateTokenizer } from "../../src/tokenize/index.js";
import { FIXTURES, MISTRAL_DIR, QWEN3_DIR, readJson } from "./helpers.js";

interface TokenizationFixture {
	prompts: string[];
	tokenizers: Record<string, { bos_used: string; ids: number[][]; ids_tokenizer_json_alone_where_different: Record<string, number[]> }>;
}

const DIRS: Record<string, string> = { mistral: MISTRAL_DIR, qwen3: QWEN3_DIR };

describe("gate prompt tokenization against tests/fixtures/tokenization.json", async () => {
	const fixture = await readJson<TokenizationFixture>(join(FIXTURES, "tokenization.json"));
	for (const name of ["mistral", "qwen3"]) {
		it(`${name}: all ${fixture.prompts.length} prompts give tokenizer.json's ids (= transformers 4.57)`, async () => {
			const tokenizer = await GateTokenizer.load(DIRS[name]);
			const expected = fixture.tokenizers[name];
			assert.equal(tokenizer.bosToken ?? "", expected.bos_used);
			fixture.prompts.forEach((prompt, i) => {
				const ids = expected.ids_tokenizer_json_alone_where_different[String(i)] ?? expected.ids[i];
				assert.deepEqual(tokenizer.encode(prompt), ids, `prompt ${i} ${JSON.stringify(prompt)}`);
			});
		});
	}

	it("mistral: transformers 5.18 differs only for a space after <s> (prompts 11, 16, 19), and we follow tokenizer.json there", async () => {
		const mistral = fixture.tokenizers.mistral;
		assert.deepEqual(Object.keys(mistral.ids_tokenizer_json_alone_where_different).sort(), ["11", "16", "19"]);
		const tokenizer = await GateTokenizer.load(MISTRAL_DIR);
		assert.deepEqual(tokenizer.encode(" "), [1, 259]);
		assert.notDeepEqual(tokenizer.encode(" "), mistral.ids[16]);
		assert.deepEqual(Object.keys(fixture.tokenizers.qwen3.ids_tokenizer_json_alone_where_different), []);
	});

	it("text that looks like a special token is matched as that token", async () => {
		const mistral = await GateTokenizer.load(MISTRAL_DIR);
		assert.deepEqual(mistral.encode("<s> looks special but is text").slice(0, 2), [1, 1]);
		const qwen = await GateTokenizer.load(QWEN3_DIR);
		assert.equal(qwen.encode("<|im_start|>user")[0], 151644);
		assert.deepEqual(mistral.encode(""), [1]);
		assert.deepEqual(qwen.encode(""), []);
	});
});

interface PromptIds {
	bos_token: string;
	experts: { positive_prompts: { prompt: string; ids: number[] }[]; negative_prompts?: { prompt: string; ids: number[] }[] }[];
}

describe("recipe prompts against expected/*/prompt-ids.json", () => {
	for (const recipe of ["mixtral-hidden", "mixtral-cheap-embed", "mixtral-hidden-avg"]) {
		it(`${recipe}: every prompt tokenized by models/llama-base's tokenizer`, async () => {
			const expected = await readJson<PromptIds>(join(FIXTURES, "expected", recipe, "prompt-ids.json"));
			const tokenizer = await GateTokenizer.load(join(FIXTURES, "models/llama-base"));
			assert.equal(tokenizer.bosToken, expected.bos_token);
			let count = 0;
			for (const expert of expected.experts) {
				for (const p of [...expert.positive_prompts, ...(expert.negative_prompts ?? [])]) {
					assert.deepEqual(tokenizer.encode(p.prompt), p.ids, JSON.stringify(p.prompt));
					count++;
				}
			}
			assert.equal(count, 8);
		});
	}
});
