/**
 * The per-prompt vectors behind the reference router rows (tests/fixtures/expected/<recipe>/
 * prompt-vectors-fp32.safetensors, transformers on the bf16 llama-base upcast to f32): `hidden` is the
 * last-token state of each layer's input, `hidden_avg` the token mean; within 1e-5 rel per vector.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { computePromptStates } from "../../src/model/index.js";
import { backendsToTest, FIXTURES, readReference, relDiff } from "./helpers.js";

interface PromptIds {
	experts: { positive_prompts: { ids: number[] }[]; negative_prompts?: { ids: number[] }[] }[];
}

const backends = await backendsToTest();
after(async () => {
	for (const b of backends) await b.close();
});

for (const [recipe, field] of [["mixtral-hidden", "last"], ["mixtral-hidden-avg", "mean"]] as const) {
	for (const { name, backend } of backends) {
		test(`${recipe}: the ${field} state of every prompt (${name} backend)`, async (t) => {
			const dir = join(FIXTURES, "expected", recipe);
			const ids = JSON.parse(await readFile(join(dir, "prompt-ids.json"), "utf8")) as PromptIds;
			const ref = await readReference(join(dir, "prompt-vectors-fp32.safetensors"));
			const keys: string[] = [];
			const prompts: number[][] = [];
			ids.experts.forEach((e, i) => {
				for (const [kind, list] of [["positive", e.positive_prompts], ["negative", e.negative_prompts ?? []]] as const) {
					list.forEach((p, j) => {
						keys.push(`expert${i}.${kind}.${j}`);
						prompts.push(p.ids);
					});
				}
			});
			const out = await computePromptStates(join(FIXTURES, "models/llama-base"), { prompts }, { backend });
			let worst = 0;
			keys.forEach((key, p) => {
				const expected = ref.tensors.get(key)!;
				const [L, H] = expected.shape as [number, number];
				const ours = out.states[p]![field];
				assert.equal(ours.length, L);
				for (let l = 0; l < L; l++) {
					const rel = relDiff(ours[l]!, expected.data.subarray(l * H, (l + 1) * H));
					worst = Math.max(worst, rel);
					assert.ok(rel <= 1e-5, `${key} layer ${l}: rel ${rel}`);
				}
			});
			assert.equal(keys.length, ref.tensors.size);
			t.diagnostic(`${prompts.length} prompts, worst rel ${worst.toExponential(2)}`);
		});
	}
}
