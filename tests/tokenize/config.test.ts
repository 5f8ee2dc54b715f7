import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ModelError } from "../../src/errors.js";
import { GateTokenizer } from "../../src/tokenize/index.js";
import { MISTRAL_DIR, QWEN3_DIR, editedTokenizer } from "./helpers.js";

/** Mistral-7B-Instruct-v0.1's template (abridged): it writes bos itself. */
const MISTRAL_INSTRUCT_TEMPLATE =
	"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
	"{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

describe("tokenizer_config.json variants", () => {
	it("bos_token as an AddedToken object gives the same ids as the string form", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => ({ ...c, bos_token: { __type: "AddedToken", content: "<s>", lstrip: false, normalized: false, rstrip: false, single_word: false } }));
		const tokenizer = await GateTokenizer.load(dir);
		const reference = await GateTokenizer.load(MISTRAL_DIR);
		assert.equal(tokenizer.bosToken, "<s>");
		for (const p of ["Hello, world!", " ", "", "def f():\n    pass"]) assert.deepEqual(tokenizer.encode(p), reference.encode(p));
	});

	it("no bos_token: the prompt alone", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => ({ ...c, bos_token: null }));
		const tokenizer = await GateTokenizer.load(dir);
		assert.equal(tokenizer.bosToken, undefined);
		assert.deepEqual(tokenizer.encode("Hello"), (await GateTokenizer.load(MISTRAL_DIR)).encode("Hello").slice(1));
	});

	it("a missing tokenizer_config.json or tokenizer.json is a ModelError naming the file", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, () => null);
		await assert.rejects(GateTokenizer.load(dir), (e: unknown) => e instanceof ModelError && e.message.includes(join(dir, "tokenizer_config.json")) && /missing/.test(e.message));
		await assert.rejects(GateTokenizer.load(join(dir, "nowhere")), (e: unknown) => e instanceof ModelError && e.file === join(dir, "nowhere", "tokenizer.json"));
	});

	it("invalid JSON, a non-object and an unknown bos are ModelErrors naming the file", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => c);
		await writeFile(join(dir, "tokenizer_config.json"), "{ not json");
		await assert.rejects(GateTokenizer.load(dir), (e: unknown) => e instanceof ModelError && e.file === join(dir, "tokenizer_config.json") && /not valid JSON/.test(e.message));
		await writeFile(join(dir, "tokenizer_config.json"), "[1, 2]");
		await assert.rejects(GateTokenizer.load(dir), (e: unknown) => e instanceof ModelError && /expected a JSON object/.test(e.message));
		await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<never-seen>" }));
		await assert.rejects(GateTokenizer.load(dir), (e: unknown) => e instanceof ModelError && /not a token/.test(e.message));
		await writeFile(join(dir, "tokenizer.json"), JSON.stringify({ model: { type: "NoSuchModel" } }));
		await writeFile(join(dir, "tokenizer_config.json"), "{}");
		await assert.rejects(GateTokenizer.load(dir), (e: unknown) => e instanceof ModelError && e.file === join(dir, "tokenizer.json"));
	});
});

describe("chat prompts", () => {
	it("Qwen3: rendered with its template, no generation prompt, no bos", async () => {
		const tokenizer = await GateTokenizer.load(QWEN3_DIR);
		const messages = [{ role: "user", content: "Hello" }];
		assert.equal(tokenizer.renderChat(messages), "<|im_start|>user\nHello<|im_end|>\n");
		assert.deepEqual(tokenizer.encode({ messages }), tokenizer.encode("<|im_start|>user\nHello<|im_end|>\n"));
		assert.equal(tokenizer.encode({ messages })[0], 151644);
	});

	it("a template that writes bos itself: bos appears once, not twice", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => ({ ...c, chat_template: MISTRAL_INSTRUCT_TEMPLATE }));
		const tokenizer = await GateTokenizer.load(dir);
		const messages = [{ role: "user", content: "Write a poem" }, { role: "assistant", content: "The sea" }];
		assert.equal(tokenizer.renderChat(messages), "<s>[INST] Write a poem [/INST]The sea</s>");
		const ids = tokenizer.encode({ messages });
		assert.deepEqual(ids, tokenizer.encode("[INST] Write a poem [/INST]The sea</s>"));
		assert.equal(ids.filter((id) => id === 1).length, 1);
		assert.equal(ids.at(-1), 2);
	});

	it("a list of named templates: the one named default", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => ({ ...c, chat_template: [{ name: "tool_use", template: "TOOLS" }, { name: "default", template: MISTRAL_INSTRUCT_TEMPLATE }] }));
		const tokenizer = await GateTokenizer.load(dir);
		assert.equal(tokenizer.renderChat([{ role: "user", content: "Hi" }]), "<s>[INST] Hi [/INST]");
	});

	it("chat_template.jinja beside tokenizer_config.json is used when the config has none", async () => {
		const dir = await editedTokenizer(MISTRAL_DIR, (c) => c);
		await writeFile(join(dir, "chat_template.jinja"), MISTRAL_INSTRUCT_TEMPLATE);
		assert.equal((await GateTokenizer.load(dir)).renderChat([{ role: "user", content: "Hi" }]), "<s>[INST] Hi [/INST]");
	});

	it("no template: plain prompts still work, a chat prompt is a ModelError naming tokenizer_config.json", async () => {
		const tokenizer = await GateTokenizer.load(MISTRAL_DIR);
		assert.deepEqual(tokenizer.encode("Hi").slice(0, 1), [1]);
		assert.throws(() => tokenizer.encode({ messages: [{ role: "user", content: "Hi" }] }), (e: unknown) =>
			e instanceof ModelError && e.file === join(MISTRAL_DIR, "tokenizer_config.json") && /no chat_template/.test(e.message));
		const named = await GateTokenizer.load(await editedTokenizer(MISTRAL_DIR, (c) => ({ ...c, chat_template: [{ name: "tool_use", template: "x" }] })));
		assert.throws(() => named.encode({ messages: [] }), (e: unknown) => e instanceof ModelError && /none named "default"/.test(e.message));
	});
});
