/** The mergekit-moe reference recipes and our examples in recipes/ parse to what they say. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadRecipe, parseRecipe } from "../../src/recipe/index.js";
import { repoRoot } from "./helpers.js";

const root = repoRoot();
const fixtureDir = join(root, "tests", "fixtures", "recipes");
const modelsDir = join(root, "tests", "fixtures", "models");

const CODE = ["def fibonacci(n):\n    if n < 2:\n        return n", "Write a JavaScript function that sorts an array"];
const STORY = ["Once upon a time, in a land far away,", "Write a poem about the sea", "The dragon opened its eyes"];
const MATH = ["What is the integral of x^2?", "Prove that the square root of 2 is irrational"];

describe("mergekit-moe fixture recipes", () => {
	for (const [name, mode] of [
		["mixtral-hidden.yml", "hidden"],
		["mixtral-cheap-embed.yml", "cheap_embed"],
		["mixtral-hidden-avg.yml", "hidden_avg"],
	] as const) {
		it(`${name} parses with the expected values`, async () => {
			const file = join(fixtureDir, name);
			const recipe = await loadRecipe(file);
			assert.equal(recipe.file, file);
			assert.equal(recipe.text, readFileSync(file, "utf8"));
			assert.deepEqual(recipe.baseModel, { kind: "local", path: join(modelsDir, "llama-base"), text: "../models/llama-base" });
			assert.deepEqual(recipe.baseModelLoc, { file, line: 3, column: 13 });
			assert.equal(recipe.gateMode, mode);
			assert.equal(recipe.dtype, "bfloat16");
			assert.equal(recipe.expertsPerToken, 2);
			assert.equal(recipe.architecture, undefined);
			assert.deepEqual(recipe.architectureCandidates, ["mixtral", "deepseek_moe", "qwen2_moe", "qwen3_moe"]);
			assert.deepEqual(recipe.sharedExperts, []);
			assert.deepEqual(
				recipe.experts.map((e) => [e.source, e.positivePrompts, e.negativePrompts]),
				[
					[{ kind: "local", path: join(modelsDir, "llama-expert-a"), text: "../models/llama-expert-a" }, CODE, []],
					[{ kind: "local", path: join(modelsDir, "llama-expert-b"), text: "../models/llama-expert-b" }, STORY, ["Solve for x: 2x + 3 = 7"]],
					[{ kind: "local", path: join(modelsDir, "llama-base"), text: "../models/llama-base" }, MATH, []],
				],
			);
			assert.deepEqual(
				recipe.experts.map((e) => [e.loc.line, e.loc.column]),
				[
					[8, 3],
					[12, 3],
					[19, 3],
				],
			);
			for (const expert of recipe.experts) {
				assert.equal(expert.noiseScale, undefined);
				assert.equal(expert.residualScale, undefined);
			}
		});
	}
});

describe("example recipes in recipes/", () => {
	const dir = join(root, "recipes");
	const files = readdirSync(dir).filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"));

	it("has examples", () => assert.ok(files.length >= 4, files.join(", ")));

	for (const name of files) {
		it(`${name} parses and points editors at the schema`, () => {
			const text = readFileSync(join(dir, name), "utf8");
			assert.match(text.split("\n")[0], /^# yaml-language-server: \$schema=\.\.\/schemas\/recipe\.schema\.json$/);
			const recipe = parseRecipe(text, join(dir, name));
			assert.ok(recipe.experts.length >= 1);
		});
	}

	it("mixtral-4x7b-hidden.yml names its hub models", () => {
		const recipe = parseRecipe(readFileSync(join(dir, "mixtral-4x7b-hidden.yml"), "utf8"), join(dir, "mixtral-4x7b-hidden.yml"));
		assert.deepEqual(recipe.baseModel, { kind: "hub", repo: "mistralai/Mistral-7B-v0.1", text: "mistralai/Mistral-7B-v0.1" });
		assert.equal(recipe.experts.length, 4);
		assert.ok(recipe.experts.every((e) => e.source.kind === "hub" && e.positivePrompts.length === 3));
		assert.equal(recipe.experts[1].negativePrompts.length, 1);
	});

	it("random-gates.yml needs no prompts and adds noise to two experts", () => {
		const recipe = parseRecipe(readFileSync(join(dir, "random-gates.yml"), "utf8"), join(dir, "random-gates.yml"));
		assert.equal(recipe.gateMode, "random");
		assert.deepEqual(
			recipe.experts.map((e) => e.noiseScale),
			[undefined, undefined, 0.01, 0.01],
		);
	});

	it("qwen2-moe-shared-expert.yml has chat prompts and a shared expert", () => {
		const recipe = parseRecipe(readFileSync(join(dir, "qwen2-moe-shared-expert.yml"), "utf8"), join(dir, "qwen2-moe-shared-expert.yml"));
		assert.equal(recipe.architecture, "qwen2_moe");
		assert.deepEqual(recipe.architectureCandidates, ["qwen2_moe"]);
		assert.equal(recipe.sharedExperts.length, 1);
		assert.equal(recipe.sharedExperts[0].residualScale, 0.1);
		assert.deepEqual(recipe.experts[0].positivePrompts[1], {
			messages: [
				{ role: "system", content: "You are a senior Python developer." },
				{ role: "user", content: "Why is my list comprehension slower than a for loop here?" },
			],
		});
		assert.equal(recipe.experts[1].positivePrompts[1], "Prove that the sum of two even numbers is even.");
	});
});
