/**
 * Every hidden state, layer output, final norm and last-token logits of the transformers references
 * (tests/fixtures/hidden: llama3 rope, Mistral sliding window 4, Qwen2 q/k/v biases, Qwen3 head_dim 32
 * with q/k norms; tests/fixtures/hidden-extra: see its README) within 1e-5 rel, with every backend.
 */
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { computePromptStates } from "../../src/model/index.js";
import { backendsToTest, FIXTURES, readReference, relDiff, type NamedBackend } from "./helpers.js";

const TOLERANCE = 1e-5;

interface Case {
	dir: string;
	name: string;
}

async function listCases(folder: string): Promise<Case[]> {
	const dir = join(FIXTURES, folder);
	const names = (await readdir(dir)).filter((n) => n.endsWith(".hidden.safetensors")).map((n) => n.slice(0, -".hidden.safetensors".length));
	return names.sort().map((name) => ({ dir, name }));
}

const cases = [...(await listCases("hidden")), ...(await listCases("hidden-extra"))];
const backends: NamedBackend[] = await backendsToTest();
after(async () => {
	for (const b of backends) await b.close();
});

test("the fixture folders hold the expected cases", () => {
	const names = cases.map((c) => c.name);
	for (const n of ["llama-llama3rope", "mistral-sliding4", "qwen2-bias", "qwen3-headdim32"]) assert.ok(names.includes(n), n);
	assert.ok(cases.length >= 10, `only ${cases.length} cases`);
});

for (const { name: backendName, backend } of backends) {
	describe(`hidden states vs transformers (${backendName} backend)`, () => {
		for (const c of cases) {
			test(c.name, async (t) => {
				const ref = await readReference(join(c.dir, `${c.name}.hidden.safetensors`));
				const sequences = (JSON.parse(ref.metadata.sequences!) as { ids: number[] }[]).map((s) => s.ids);
				const progress: string[] = [];
				const out = await computePromptStates(join(c.dir, c.name), { prompts: sequences }, {
					backend,
					logits: true,
					keepAll: true,
					onProgress: (p) => progress.push(`${p.layer}/${p.layers}:${p.prompt}/${p.prompts}`),
				});
				const config = JSON.parse(await readFile(join(c.dir, c.name, "config.json"), "utf8")) as { num_hidden_layers: number; hidden_size: number };
				const L = config.num_hidden_layers;
				const H = config.hidden_size;
				let worst = 0;
				const check = (what: string, actual: Float32Array, expected: Float32Array): void => {
					const rel = relDiff(actual, expected);
					worst = Math.max(worst, rel);
					assert.ok(rel <= TOLERANCE, `${c.name} ${what}: rel ${rel}`);
				};
				sequences.forEach((ids, k) => {
					const T = ids.length;
					const hs = ref.tensors.get(`s${k}.hidden_states`)!;
					const lo = ref.tensors.get(`s${k}.layer_outputs`)!;
					assert.deepEqual(hs.shape, [L + 1, T, H]);
					const all = out.all![k]!;
					assert.equal(all.layers.length, L + 1);
					for (let l = 0; l < L; l++) {
						check(`s${k} hidden_states[${l}]`, all.layers[l]!, hs.data.subarray(l * T * H, (l + 1) * T * H));
						check(`s${k} layer_outputs[${l}]`, all.layers[l + 1]!, lo.data.subarray(l * T * H, (l + 1) * T * H));
						// The summaries are exactly the last row and the token mean of the kept layer input.
						assert.deepEqual(out.states[k]!.last[l], all.layers[l]!.slice((T - 1) * H));
						check(`s${k} mean[${l}]`, out.states[k]!.mean[l]!, tokenMean(hs.data.subarray(l * T * H, (l + 1) * T * H), T, H));
					}
					check(`s${k} final_norm`, all.finalNorm, ref.tensors.get(`s${k}.final_norm`)!.data);
					check(`s${k} hidden_states[L]`, all.finalNorm, hs.data.subarray(L * T * H));
					check(`s${k} logits`, out.logits![k]!, ref.tensors.get(`s${k}.logits`)!.data);
				});
				assert.equal(out.states.length, sequences.length);
				// Per-prompt progress inside each layer, then the layer's completion.
				assert.equal(progress.length, L * (sequences.length + 1));
				assert.equal(progress.at(-1), `${L}/${L}:0/${sequences.length}`);
				t.diagnostic(`${backendName} ${c.name}: worst rel ${worst.toExponential(2)}`);
			});
		}
	});
}

function tokenMean(x: Float32Array, T: number, H: number): Float32Array {
	const out = new Float32Array(H);
	for (let i = 0; i < H; i++) {
		let s = 0;
		for (let t = 0; t < T; t++) s += x[t * H + i]!;
		out[i] = s / T;
	}
	return out;
}
