/**
 * Last-token logits of the dense base models (tests/fixtures/dense/<case>/reference.json, made with
 * transformers): rope llama3 / linear / yarn / dynamic / default, head_dim 32 with one kv head, tied
 * embeddings, f16 / bf16 / f32 weights, 5 shards, a transformers-5 native config, Mistral's sliding
 * window and Qwen2's biases; within 1e-5 rel with every backend.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { computePromptStates } from "../../src/model/index.js";
import { backendsToTest, FIXTURES, relDiff } from "./helpers.js";

interface Reference {
	sequences: { ids: number[]; logits_last: number[]; argmax_last: number }[];
}

const DENSE = join(FIXTURES, "dense");
const cases = (await readdir(DENSE)).sort();
const backends = await backendsToTest();
after(async () => {
	for (const b of backends) await b.close();
});

test("all seven dense cases are present", () => {
	assert.deepEqual(cases, ["llama-headdim-f32", "llama-linear-tied", "llama-native-config", "llama-rope-llama3", "llama-sharded", "mistral-sliding", "qwen2-bias"]);
});

for (const { name: backendName, backend } of backends) {
	describe(`dense base logits vs transformers (${backendName} backend)`, () => {
		for (const c of cases) {
			test(c, async (t) => {
				const ref = JSON.parse(await readFile(join(DENSE, c, "reference.json"), "utf8")) as Reference;
				const out = await computePromptStates(join(DENSE, c, "base"), { prompts: ref.sequences.map((s) => s.ids) }, { backend, logits: true });
				ref.sequences.forEach((s, k) => {
					const logits = out.logits![k]!;
					const rel = relDiff(logits, s.logits_last);
					assert.ok(rel <= 1e-5, `${c} sequence ${k}: rel ${rel}`);
					assert.equal(argmax(logits), s.argmax_last);
					t.diagnostic(`${backendName} ${c} s${k}: rel ${rel.toExponential(2)}`);
				});
			});
		}
	});
}

function argmax(v: Float32Array): number {
	let best = 0;
	for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
	return best;
}
