/** mergekit-moe's semantic rules, each at the position it is about. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SAME_MODEL_FLAG, parseRecipe } from "../../src/recipe/index.js";
import { errorsOf, messagesOf, parseLines, VALID } from "./helpers.js";

const expert = (model: string, prompts: string[] | null): string[] =>
	prompts === null ? [`  - source_model: ${model}`] : [`  - source_model: ${model}`, "    positive_prompts:", ...prompts.map((p) => `      - ${p}`)];

describe("recipe rules", () => {
	it("needs experts_per_token <= number of experts (written)", () => {
		assert.deepEqual(messagesOf([...VALID, "experts_per_token: 3"]), [
			"recipe.yml:9:20: experts_per_token: 3 experts per token but only 2 experts; lower experts_per_token or add experts",
		]);
	});

	it("needs experts_per_token <= number of experts (default 2)", () => {
		assert.deepEqual(messagesOf(["base_model: org/base", "experts:", ...expert("org/a", ["x"])]), [
			"recipe.yml:2:1: experts_per_token: 2 experts per token (the default) but only 1 expert; lower experts_per_token or add experts",
		]);
	});

	it("leaves the default to the output architecture when there is a shared expert (DeepSeek MoE's is 1)", () => {
		const recipe = parseLines(["base_model: org/base", "experts:", ...expert("org/a", ["x"]), "shared_experts:", ...expert("org/s", ["y"])]);
		assert.equal(recipe.expertsPerTokenWritten, false);
		assert.deepEqual(messagesOf(["base_model: org/base", "experts_per_token: 2", "experts:", ...expert("org/a", ["x"]), "shared_experts:", ...expert("org/s", ["y"])]), [
			"recipe.yml:2:20: experts_per_token: 2 experts per token but only 1 expert; lower experts_per_token or add experts",
		]);
	});

	it("accepts a single expert with experts_per_token 1", () => {
		const recipe = parseLines(["base_model: org/base", "experts_per_token: 1", "experts:", ...expert("org/a", ["x"])]);
		assert.equal(recipe.experts.length, 1);
	});

	it("needs positive prompts on every expert for prompt-based gates", () => {
		for (const mode of ["hidden", "cheap_embed", "hidden_avg", "hidden_last"]) {
			const messages = messagesOf(["base_model: org/base", `gate_mode: ${mode}`, "experts:", ...expert("org/a", ["x"]), ...expert("org/b", null), "  - source_model: org/c", "    positive_prompts: []"]);
			assert.deepEqual(messages, [
				`recipe.yml:7:5: experts[1].positive_prompts: no positive_prompts: with gate_mode ${mode} every expert needs at least one example prompt of what to route to it (or use gate_mode random)`,
				`recipe.yml:9:23: experts[2].positive_prompts: no positive_prompts: with gate_mode ${mode} every expert needs at least one example prompt of what to route to it (or use gate_mode random)`,
			]);
		}
	});

	it("does not need prompts with random or uniform_random gates", () => {
		for (const mode of ["random", "uniform_random"]) {
			const recipe = parseLines(["base_model: org/base", `gate_mode: ${mode}`, "experts:", ...expert("org/a", null), ...expert("org/b", null)]);
			assert.deepEqual(
				recipe.experts.map((e) => e.positivePrompts),
				[[], []],
			);
		}
	});

	it("refuses experts whose prompts are all identical", () => {
		assert.deepEqual(messagesOf(["base_model: org/base", "experts:", ...expert("org/a", ["x", "y"]), ...expert("org/b", ["x", "y"])]), [
			"recipe.yml:2:1: experts: every expert has the same positive_prompts and negative_prompts, so the routers could not tell them apart; give each expert prompts for what it is good at",
		]);
	});

	it("accepts identical positive prompts when the negative ones differ", () => {
		const recipe = parseLines(["base_model: org/base", "experts:", ...expert("org/a", ["x"]), ...expert("org/b", ["x"]), "    negative_prompts: [z]"]);
		assert.deepEqual(recipe.experts[1].negativePrompts, ["z"]);
	});

	it("compares chat prompts by content", () => {
		const chat = ["      - messages:", "          - {role: user, content: hi}"];
		const same = ["base_model: org/base", "experts:", "  - source_model: org/a", "    positive_prompts:", ...chat, "  - source_model: org/b", "    positive_prompts:", ...chat];
		assert.equal(messagesOf(same).length, 1);
		const different = [...same.slice(0, -1), "          - {role: user, content: hello}"];
		assert.equal(parseLines(different).experts.length, 2);
	});

	it("refuses all experts being one model, naming the flag", () => {
		const lines = ["base_model: org/base", "experts:", ...expert("org/a", ["x"]), ...expert("org/a", ["y"])];
		const [error] = errorsOf(() => parseLines(lines));
		assert.equal(error.message, `recipe.yml:2:1: experts: every expert is the same model (org/a): the result would use more memory and answer exactly like that model; if you will train it after merging, pass ${SAME_MODEL_FLAG}`);
		assert.equal(SAME_MODEL_FLAG, "--i-understand-this-is-not-useful-without-training");
		assert.equal(parseLines(lines, { allowSameModelExperts: true }).experts.length, 2);
	});

	it("compares local models after resolving their paths", () => {
		const lines = ["base_model: org/base", "experts:", ...expert("./models/a", ["x"]), ...expert("models/../models/a", ["y"])];
		assert.match(messagesOf(lines)[0], /every expert is the same model \(\.\/models\/a\)/);
		assert.equal(parseLines(["base_model: org/base", "experts:", ...expert("org/a", ["x"]), ...expert("org/a@v2", ["y"])]).experts.length, 2);
	});

	it("takes a Hub repo without a revision for its main branch, as resolution does", () => {
		const lines = ["base_model: org/base", "experts:", ...expert("org/a", ["x"]), ...expert("org/a@main", ["y"])];
		assert.match(messagesOf(lines)[0], /every expert is the same model \(org\/a\)/);
	});

	it("refuses one model copied into every expert with random gates too, unless the flag is given", () => {
		const lines = ["base_model: org/a", "gate_mode: random", "experts:", ...expert("org/a", null), ...expert("org/a", null)];
		assert.match(messagesOf(lines)[0], /every expert is the same model \(org\/a\).*--i-understand-this-is-not-useful-without-training/);
		assert.equal(parseRecipe(lines.join("\n") + "\n", "recipe.yml", { allowSameModelExperts: true }).experts.length, 2);
	});

	it("needs prompts on all shared experts or none", () => {
		const base = [...VALID, "shared_experts:"];
		assert.deepEqual(messagesOf([...base, ...expert("org/s1", ["x"]), ...expert("org/s2", null)]), [
			"recipe.yml:9:1: shared_experts: positive_prompts are given for shared_experts[0] but not for shared_experts[1]; give prompts to all shared experts or to none",
		]);
		assert.equal(parseLines([...base, ...expert("org/s1", ["x"]), ...expert("org/s2", ["y"])]).sharedExperts.length, 2);
		assert.equal(parseLines([...base, ...expert("org/s1", null)]).sharedExperts[0].positivePrompts.length, 0);
	});

	it("accepts LoRA experts and a LoRA base model, string and long form (with revisions)", () => {
		const recipe = parseLines([
			"base_model: org/base+org/lora",
			"experts:",
			"  - source_model: {model: {path: org/a, revision: v1}, lora: {path: org/a-lora, revision: abc}}",
			"    positive_prompts: [a]",
			...expert("org/b@v2+org/b-lora", ["b"]),
		]);
		assert.deepEqual(recipe.baseModel, { kind: "lora", base: { kind: "hub", repo: "org/base", text: "org/base" }, lora: { kind: "hub", repo: "org/lora", text: "org/lora" }, text: "org/base+org/lora" });
		const a = recipe.experts[0].source;
		assert.ok(a.kind === "lora" && a.base.kind === "hub" && a.base.revision === "v1" && a.lora.kind === "hub" && a.lora.revision === "abc");
		assert.equal(a.text, "org/a@v1+org/a-lora@abc");
		const b = recipe.experts[1].source;
		assert.ok(b.kind === "lora" && b.base.kind === "hub" && b.base.revision === "v2" && b.lora.kind === "hub" && b.lora.repo === "org/b-lora");
	});

	it("refuses an unknown architecture, listing the choices", () => {
		assert.deepEqual(messagesOf([...VALID, "architecture: mixtrl"]), [
			'recipe.yml:9:15: architecture: unknown architecture "mixtrl": expected (a case-insensitive prefix of) one of Mixtral, DeepSeek MoE, Qwen MoE, Qwen3 MoE; did you mean "Mixtral"?',
		]);
		assert.deepEqual(messagesOf([...VALID, "architecture: llama"]), [
			'recipe.yml:9:15: architecture: unknown architecture "llama": expected (a case-insensitive prefix of) one of Mixtral, DeepSeek MoE, Qwen MoE, Qwen3 MoE',
		]);
	});

	it("reports invalid model references at their value", () => {
		const lines = [...VALID];
		lines[0] = "base_model: my org/model";
		lines[2] = "  - source_model: org/code-model@";
		assert.deepEqual(messagesOf(lines), [
			'recipe.yml:1:13: base_model: "my org/model" is not a valid Hugging Face repo id (only letters, digits, _, . and - are allowed, and it must start with a letter or digit); for a local folder write ./my org/model',
			'recipe.yml:3:19: experts[0].source_model: "org/code-model@" has an invalid revision "" (it is empty): expected a branch, tag, commit or refs/pr/N',
		]);
	});

	it("collects rule errors of different kinds together", () => {
		const messages = messagesOf(["base_model: org/base", "architecture: gpt", "experts_per_token: 4", "experts:", ...expert("org/a+org/l+x", ["x"]), ...expert("org/b", null)]);
		assert.equal(messages.length, 4, messages.join("\n"));
		assert.deepEqual(
			messages.map((m) => m.split(": ")[0]),
			["recipe.yml:2:15", "recipe.yml:3:20", "recipe.yml:5:19", "recipe.yml:8:5"],
		);
	});
});
