/** Configs and inputs the forward pass refuses, with a ModelError that names the file. */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { ModelError, MoeMergeError, SafetensorsError } from "../../src/errors.js";
import { computePromptStates, ReferenceLinearBackend } from "../../src/model/index.js";
import { FIXTURES } from "./helpers.js";

const LLAMA = join(FIXTURES, "dense/llama-linear-tied/base");
const backend = new ReferenceLinearBackend();

/** A copy of the llama-linear-tied base with config.json edited by `edit`. */
async function modelWith(t: TestContext, edit: (config: Record<string, unknown>) => void, from = LLAMA): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), "moe-merge-model-"));
	t.after(() => rm(dir, { recursive: true, force: true }));
	await cp(from, dir, { recursive: true });
	const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
	edit(config);
	await writeFile(join(dir, "config.json"), JSON.stringify(config));
	return dir;
}

async function rejectsWith(dir: string, pattern: RegExp, type: new (...args: never[]) => Error = ModelError, prompts = [[1, 2, 3]]): Promise<void> {
	await assert.rejects(computePromptStates(dir, { prompts }, { backend }), (error: Error) => {
		assert.ok(error instanceof type, `${error.name}: ${error.message}`);
		assert.match(error.message, pattern);
		return true;
	});
}

test("an unsupported architecture names config.json and the supported ones", async (t) => {
	const dir = await modelWith(t, (c) => { c.model_type = "gemma"; });
	await rejectsWith(dir, /config\.json: model_type "gemma" is not supported .*llama, mistral, qwen2, qwen3/);
});

test("an activation other than SiLU is refused", async (t) => {
	const dir = await modelWith(t, (c) => { c.hidden_act = "gelu_pytorch_tanh"; });
	await rejectsWith(dir, /config\.json: hidden_act "gelu_pytorch_tanh" is not supported/);
});

test("an unknown rope type is refused", async (t) => {
	const dir = await modelWith(t, (c) => { c.rope_scaling = { rope_type: "mrope", factor: 2 }; });
	await rejectsWith(dir, /config\.json: rope scaling .*rope_type "mrope" is not supported/);
});

test("a rope type missing a required parameter is refused", async (t) => {
	const dir = await modelWith(t, (c) => { c.rope_scaling = { rope_type: "llama3", factor: 8 }; });
	await rejectsWith(dir, /"low_freq_factor" must be a number/);
});

test("partial rotary with a scaled rope is refused, with default rope it is ignored like transformers does", async (t) => {
	const scaled = await modelWith(t, (c) => { c.partial_rotary_factor = 0.5; });
	await rejectsWith(scaled, /partial_rotary_factor 0\.5 is not supported by llama models/);
	const plainRope = (c: Record<string, unknown>): void => { c.rope_scaling = null; };
	const plain = await modelWith(t, plainRope);
	const partial = await modelWith(t, (c) => { plainRope(c); c.partial_rotary_factor = 0.5; });
	const a = await computePromptStates(plain, { prompts: [[1, 2, 3]] }, { backend, logits: true });
	const b = await computePromptStates(partial, { prompts: [[1, 2, 3]] }, { backend, logits: true });
	assert.deepEqual(b.logits, a.logits);
});

test("weights that do not match config.json name the shard and the tensor", async (t) => {
	const dir = await modelWith(t, (c) => { c.intermediate_size = 96; });
	await rejectsWith(dir, /model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[128, 64\], config\.json implies \[96, 64\]/);
});

test("a missing bias tensor is reported", async (t) => {
	const dir = await modelWith(t, (c) => { c.attention_bias = true; });
	await rejectsWith(dir, /no tensor "model\.layers\.0\.self_attn\.q_proj\.bias"/, SafetensorsError);
});

test("token ids outside the vocabulary and empty prompts are refused", async () => {
	for (const bad of [320, -1, 1.5]) await rejectsWith(LLAMA, new RegExp(`token id ${bad} is outside the model's vocabulary \\(vocab_size 320\\)`), ModelError, [[1, 2], [bad]]);
	await rejectsWith(LLAMA, /prompt 1 has no tokens/, MoeMergeError, [[1], []]);
});

test("a folder without config.json is a ModelError", async () => {
	await rejectsWith(join(FIXTURES, "dense"), /cannot read the model's config\.json/);
});
