/** One measured gate build (child process of gates-bench): prints seconds, tokens and GFLOP/s as JSON. */
import { parseArgs } from "node:util";
import { closeMergePlan, planMerge } from "../src/merge/plan-merge.js";
import { loadRecipe } from "../src/recipe/index.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: "string" } } });
const recipe = await loadRecipe(positionals[0], { allowSameModelExperts: true });
const started = performance.now();
const plan = await planMerge(recipe, { threads: values.threads ? Number(values.threads) : undefined, seed: 1 });
// Everything from reading the recipe's models to the router rows: tokenizer, weights, forward pass.
const seconds = (performance.now() - started) / 1000;
await closeMergePlan(plan);
const base = plan.models[plan.base].config;
const tokens = plan.gates.tokens ?? 0;
// Multiply-adds of the linear layers (q, k, v, o, gate, up, down) per token, per layer.
const kv = base.numKvHeads * base.headDim;
const perToken = base.hiddenSize * (base.numHeads * base.headDim) * 2 + base.hiddenSize * kv * 2 + 3 * base.hiddenSize * base.intermediateSize;
const gflop = (2 * perToken * tokens * base.numLayers) / 1e9;
console.log(JSON.stringify({ seconds: +seconds.toFixed(2), tokens, prompts: plan.gates.distinctPrompts, gflop: +gflop.toFixed(1), forwardGflops: +(gflop / seconds).toFixed(1) }));
