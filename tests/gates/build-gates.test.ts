import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MoeMergeError, ModelError } from "../../src/errors.js";
import { type PromptStates, buildPromptGates } from "../../src/gates/index.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { FIXTURES, HIDDEN, LLAMA_BASE, NUM_LAYERS, assertRowsMatch, expectedDir, fp32GateName, readGateRows, readJson, readPromptVectors } from "./helpers.js";

const shape = { numLayers: NUM_LAYERS, hiddenSize: HIDDEN };

async function recipeExperts(recipe: string) {
	const r = await loadRecipe(join(FIXTURES, "recipes", `${recipe}.yml`));
	return r.experts.map((e) => ({ positive: e.positivePrompts, negative: e.negativePrompts }));
}

/**
 * A stand-in forward pass: the fixture's per-prompt vectors, looked up by token ids (prompt-ids.json),
 * so the orchestration is tested without the model code.
 */
async function fixtureForwardPass(recipe: string, field: "last" | "mean") {
	const ids = await readJson<{ experts: { positive_prompts: { ids: number[] }[]; negative_prompts?: { ids: number[] }[] }[] }>(join(expectedDir(recipe), "prompt-ids.json"));
	const vectors = await readPromptVectors(recipe);
	const byIds = new Map<string, Float32Array[]>();
	ids.experts.forEach((e, i) => {
		e.positive_prompts.forEach((p, j) => byIds.set(p.ids.join(","), vectors[i].positive[j]));
		(e.negative_prompts ?? []).forEach((p, j) => byIds.set(p.ids.join(","), vectors[i].negative[j]));
	});
	const calls: number[][][] = [];
	const computeStates = async (prompts: number[][]): Promise<PromptStates[]> => {
		calls.push(prompts);
		return prompts.map((p) => {
			const v = byIds.get(p.join(","));
			assert.ok(v, `unexpected prompt ids ${p}`);
			const nan = v.map(() => new Float32Array(HIDDEN).fill(NaN));
			return field === "last" ? { last: v, mean: nan } : { last: nan, mean: v };
		});
	};
	return { computeStates, calls };
}

describe("buildPromptGates: cheap_embed end to end from models/llama-base", () => {
	it("matches expected/mixtral-cheap-embed/gates-fp32 (cosine ≥ 0.99999 per row)", async () => {
		const gates = await buildPromptGates({ mode: "cheap_embed", baseModelDir: LLAMA_BASE, experts: await recipeExperts("mixtral-cheap-embed"), ...shape });
		const expected = await readGateRows(join(expectedDir("mixtral-cheap-embed"), "gates-fp32.safetensors"), fp32GateName);
		const cos = assertRowsMatch(gates.routers, expected, 3, 0.99999, "cheap_embed");
		assert.ok(cos > 0.9999999, `float32 round-off only, got ${cos}`);
		assert.equal(gates.distinctPrompts, 8);
		assert.equal(gates.tokens, 20 + 9 + 12 + 7 + 6 + 15 + 10 + 13);
		assert.equal(gates.stats.length, NUM_LAYERS);
		assert.ok(gates.stats[0].conditionNumber >= 1 && Number.isFinite(gates.stats[0].conditionNumber));
		assert.deepEqual(gates.stats[0], { ...gates.stats[1], layer: 0 });
	});

	it("uses open base weights when given, and computes a shared-expert gate", async () => {
		const experts = await recipeExperts("mixtral-cheap-embed");
		const weights = await ModelWeights.open(LLAMA_BASE);
		try {
			const gates = await buildPromptGates({ mode: "cheap_embed", baseModelDir: LLAMA_BASE, baseWeights: weights, experts, sharedExpert: experts[2], ...shape });
			assert.equal(gates.sharedGates?.length, NUM_LAYERS);
			assert.deepEqual(gates.sharedGates![1], gates.routers[1].slice(2 * HIDDEN));
			assert.equal(gates.distinctPrompts, 8, "the shared expert's prompts are tokenized once");
		} finally {
			await weights.close();
		}
	});

	it("a token id beyond the embedding is a ModelError", async () => {
		// The Qwen3 tokenizer's ids go far beyond llama-base's 32000 rows.
		const { GateTokenizer } = await import("../../src/tokenize/index.js");
		const tokenizer = await GateTokenizer.load(join(FIXTURES, "tokenizers/qwen3"));
		await assert.rejects(
			buildPromptGates({ mode: "cheap_embed", baseModelDir: LLAMA_BASE, tokenizer, experts: [{ positive: ["你好世界"], negative: [] }], ...shape }),
			(e: unknown) => e instanceof ModelError && /outside model\.embed_tokens\.weight's 32000 rows/.test(e.message),
		);
	});
});

describe("buildPromptGates: hidden modes with a stand-in forward pass", () => {
	for (const [recipe, mode, field] of [
		["mixtral-hidden", "hidden", "last"],
		["mixtral-hidden", "hidden_last", "last"],
		["mixtral-hidden-avg", "hidden_avg", "mean"],
	] as const) {
		it(`${recipe} as ${mode}: one forward pass over the distinct prompts, rows match gates-fp32`, async () => {
			const { computeStates, calls } = await fixtureForwardPass(recipe, field);
			const experts = await recipeExperts(recipe);
			// Expert 2 again as the shared expert: no extra prompts to run.
			const gates = await buildPromptGates({ mode, baseModelDir: LLAMA_BASE, experts, sharedExpert: experts[2], computeStates, ...shape });
			assert.equal(calls.length, 1);
			assert.equal(calls[0].length, 8);
			assert.equal(calls[0][0][0], 1, "bos first");
			const expected = await readGateRows(join(expectedDir(recipe), "gates-fp32.safetensors"), fp32GateName);
			assertRowsMatch(gates.routers, expected, 3, 0.99999, mode);
			assertRowsMatch(gates.sharedGates!, expected.map((m) => m.slice(2 * HIDDEN)), 1, 0.99999, `${mode} shared`);
		});
	}

	it("a prompt that tokenizes to nothing (no bos, empty text) is refused for hidden modes", async () => {
		await assert.rejects(
			buildPromptGates({ mode: "hidden", baseModelDir: join(FIXTURES, "tokenizers/qwen3"), experts: [{ positive: ["a", ""], negative: [] }], computeStates: async () => [], ...shape }),
			(e: unknown) => e instanceof MoeMergeError && /positive prompt 1 of expert 0 tokenizes to no tokens/.test(e.message),
		);
	});

	it("a missing tokenizer is a ModelError naming the file", async () => {
		const dir = join(FIXTURES, "models/llama-expert-a");
		await assert.rejects(
			buildPromptGates({ mode: "cheap_embed", baseModelDir: dir, experts: [{ positive: ["a"], negative: [] }], ...shape }),
			(e: unknown) => e instanceof ModelError && e.file === join(dir, "tokenizer.json"),
		);
	});
});
