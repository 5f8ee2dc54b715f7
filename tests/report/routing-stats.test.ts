/** The figures derived from router probabilities, on small hand-made routings. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { expertShares, expertSimilarity, routingAgreement, topExpert } from "../../src/report/routing-stats.js";
import { nextTokens } from "../../src/report/report-data.js";

const layer = (l: number, routerProbs: number[][], experts: number[][]) => ({ layer: l, routerProbs, experts });

test("shares average the router probabilities and count top-k slots over tokens and layers", () => {
	const shares = expertShares([layer(0, [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], [[0, 1], [1, 2]]), layer(1, [[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]], [[0, 1], [2, 0]])], 3);
	assert.deepEqual(shares.weight.map((v) => +v.toFixed(6)), [0.375, 0.35, 0.275]);
	assert.deepEqual(shares.chosen, [3 / 8, 3 / 8, 2 / 8]);
	assert.equal(topExpert(shares.weight), 0);
	assert.equal(topExpert([0.3, 0.4, 0.4]), 1, "a tie goes to the lower id");
});

test("routing agreement counts only prompts with an own expert", () => {
	assert.equal(routingAgreement([{ expert: 0, weight: [0.6, 0.4] }, { expert: 1, weight: [0.7, 0.3] }, { weight: [0, 1] }]), 0.5);
	assert.equal(routingAgreement([{ weight: [0, 1] }]), null);
});

test("expert similarity is the cosine of probability columns over all prompts' tokens, pairs most similar first", () => {
	// Experts 0 and 1 always get the same probability; expert 2 is routed differently.
	const a = [layer(3, [[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]], [[0, 1], [2, 0]])];
	const b = [layer(3, [[0.3, 0.3, 0.4]], [[2, 0]])];
	const [s] = expertSimilarity([a, b], 3);
	assert.equal(s!.layer, 3);
	assert.ok(Math.abs(s!.matrix[0]![1]! - 1) < 1e-12);
	assert.ok(s!.matrix[0]![2]! < 0.9);
	assert.deepEqual(s!.pairs.map((p) => [p.a, p.b]), [[0, 1], [0, 2], [1, 2]]);
});

test("next tokens: the top 5 by logit with softmax probabilities; NaN logits show as NaN", () => {
	const logits = Float32Array.from([0, 3, 1, 2, -1, 5, 4]);
	const top = nextTokens(logits, 5, (ids) => `t${ids[0]}`);
	assert.deepEqual(top.map((t) => t.id), [5, 6, 1, 3, 2]);
	assert.equal(top[0]!.text, "t5");
	const z = [...logits].reduce((s, v) => s + Math.exp(v - 5), 0);
	assert.ok(Math.abs(top[0]!.probability - 1 / z) < 1e-7);
	assert.ok(Number.isNaN(nextTokens(Float32Array.from([NaN, 1]), 1, String)[0]!.probability));
});
