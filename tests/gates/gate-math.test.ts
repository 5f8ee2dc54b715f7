import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type ExpertStates, gatesFromEmbeddingSums, gatesFromStates, type PromptStates } from "../../src/gates/index.js";
import { HIDDEN, NUM_LAYERS, assertRowsMatch, expectedDir, fp32GateName, readGateRows, readPromptVectors } from "./helpers.js";

const NAN_LAYERS = () => Array.from({ length: NUM_LAYERS }, () => new Float32Array(HIDDEN).fill(NaN));

/** States whose only meaningful field is the one the mode must use (the other is NaN). */
function states(vectors: Float32Array[], field: "last" | "mean"): PromptStates {
	return field === "last" ? { last: vectors, mean: NAN_LAYERS() } : { last: NAN_LAYERS(), mean: vectors };
}

async function expertStates(recipe: string, field: "last" | "mean"): Promise<ExpertStates[]> {
	return (await readPromptVectors(recipe)).map((e) => ({ positive: e.positive.map((v) => states(v, field)), negative: e.negative.map((v) => states(v, field)) }));
}

const shape = { numLayers: NUM_LAYERS, hiddenSize: HIDDEN };

describe("gate rows from the per-prompt vectors of tests/fixtures/expected", () => {
	for (const [recipe, mode, field] of [
		["mixtral-hidden", "hidden", "last"],
		["mixtral-hidden", "hidden_last", "last"],
		["mixtral-hidden-avg", "hidden_avg", "mean"],
	] as const) {
		it(`${recipe} as ${mode}: rows match gates-fp32 (cosine ≥ 0.99999 per row)`, async () => {
			const gates = gatesFromStates(mode, await expertStates(recipe, field), undefined, shape);
			const expected = await readGateRows(join(expectedDir(recipe), "gates-fp32.safetensors"), fp32GateName);
			const cos = assertRowsMatch(gates.routers, expected, 3, 0.99999, recipe);
			assert.ok(cos > 0.9999999, `float32 round-off only, got ${cos}`);
			assert.equal(gates.mode, mode);
			assert.equal(gates.sharedGates, undefined);
			assert.equal(gates.stats.length, NUM_LAYERS);
			for (const matrix of gates.routers) {
				assert.equal(matrix.length, 3 * HIDDEN);
				for (let r = 0; r < 3; r++) assert.ok(Math.abs(Math.hypot(...matrix.subarray(r * HIDDEN, (r + 1) * HIDDEN)) - 1) < 1e-6, "unit rows");
			}
		});
	}

	it("mixtral-cheap-embed: rows from the token-embedding sums match gates-fp32", async () => {
		const experts = (await readPromptVectors("mixtral-cheap-embed")).map((e) => ({
			positive: sum(e.positive.map((p) => p[0])),
			negative: e.negative.length > 0 ? sum(e.negative.map((p) => p[0])) : undefined,
		}));
		const gates = gatesFromEmbeddingSums(experts, undefined, shape);
		const expected = await readGateRows(join(expectedDir("mixtral-cheap-embed"), "gates-fp32.safetensors"), fp32GateName);
		assertRowsMatch(gates.routers, expected, 3, 0.9999999, "cheap_embed");
		assert.deepEqual(gates.routers[0], gates.routers[1], "the same row in every layer");
	});

	it("a shared expert's gate uses the same formula: the same prompts give the same row", async () => {
		const experts = await expertStates("mixtral-hidden", "last");
		const gates = gatesFromStates("hidden", experts, experts[1], shape);
		assert.equal(gates.sharedGates?.length, NUM_LAYERS);
		for (let l = 0; l < NUM_LAYERS; l++) assert.deepEqual(gates.sharedGates![l], gates.routers[l].slice(HIDDEN, 2 * HIDDEN));
		assert.deepEqual(gates.stats, gatesFromStates("hidden", experts, undefined, shape).stats, "stats are about the routed experts only");
	});

	it("negative prompts equal to the positive ones give a zero row (norm clamped, no NaN) and a warning", () => {
		const v = [Float32Array.from({ length: HIDDEN }, (_, i) => i), Float32Array.from({ length: HIDDEN }, (_, i) => -i)];
		const w = [Float32Array.from({ length: HIDDEN }, (_, i) => (i % 3) - 1), Float32Array.from({ length: HIDDEN }, (_, i) => (i % 5) - 2)];
		const s = { last: v, mean: v };
		const gates = gatesFromStates("hidden", [{ positive: [s], negative: [s] }, { positive: [{ last: w, mean: w }], negative: [] }], undefined, shape);
		assert.ok(gates.routers[0].subarray(0, HIDDEN).every((x) => x === 0));
		assert.equal(gates.stats[0].conditionNumber, Infinity);
		assert.equal(gates.warnings.length, 1);
		assert.match(gates.warnings[0], /^layers 0-1: degenerate gates \(condition number infinite > 5\)/);
	});

	it("rejects prompt states of the wrong shape as a bug", () => {
		const bad = { last: [new Float32Array(HIDDEN)], mean: [new Float32Array(HIDDEN)] };
		assert.throws(() => gatesFromStates("hidden", [{ positive: [bad], negative: [] }], undefined, shape), /expected 2 of 32/);
	});
});

function sum(vectors: Float32Array[]): Float64Array {
	const out = new Float64Array(HIDDEN);
	for (const v of vectors) for (let k = 0; k < HIDDEN; k++) out[k] += v[k];
	return out;
}
