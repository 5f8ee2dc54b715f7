/**
 * The report's MoE forward pass against transformers' output_router_logits (tests/fixtures/report):
 * router probabilities within 1e-4 and the same top-k experts, per architecture and expert layout.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { ComputeEngine } from "../../src/kernels/index.js";
import { ReferenceLinearBackend, type LinearBackend } from "../../src/model/index.js";
import { runMoeForward } from "../../src/model/moe-forward.js";
import { readMoeSpec } from "../../src/model/moe-spec.js";
import { MOE_FIXTURES, REPORT_FIXTURES, readExpected } from "./helpers.js";

let engine: ComputeEngine;
before(async () => {
	engine = await ComputeEngine.create({ threads: 1 });
});
after(() => engine.close());

const backends: [string, () => LinearBackend][] = [["kernel engine", () => engine], ["reference backend", () => new ReferenceLinearBackend()]];

for (const name of MOE_FIXTURES) {
	describe(name, () => {
		for (const [label, backend] of backends) {
			test(`router probabilities and top-k match transformers (${label})`, async () => {
				const dir = join(REPORT_FIXTURES, name);
				const expected = await readExpected(name);
				const spec = await readMoeSpec(dir);
				assert.equal(spec.topK, expected.experts_per_tok);
				const routing = await runMoeForward(dir, spec, expected.prompts.map((p) => p.token_ids), { backend: backend() });
				let worst = 0;
				routing.forEach((got, p) => {
					const want = expected.prompts[p]!;
					assert.deepEqual(got.layers.map((l) => l.layer), expected.moe_layers);
					got.layers.forEach((layer, i) => {
						const ref = want.layers[i]!;
						assert.deepEqual(layer.experts, ref.experts, `prompt ${p} layer ${layer.layer}: top-k experts`);
						layer.routerProbs.forEach((row, t) => row.forEach((v, e) => (worst = Math.max(worst, Math.abs(v - ref.router_probs[t]![e]!)))));
					});
					const logits = got.nextTokenLogits;
					assert.equal(logits.indexOf(Math.max(...logits)), want.argmax_next, `prompt ${p}: next-token argmax`);
				});
				assert.ok(worst < 1e-4, `max |Δ router prob| = ${worst}`);
			});
		}
	});
}
