/**
 * Whatever the input, parseRecipe either returns a Recipe or throws RecipeError / MultipleErrors
 * of RecipeErrors with a position: never a TypeError, a yaml exception or a hang.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { MultipleErrors, RecipeError } from "../../src/errors.js";
import { parseRecipe } from "../../src/recipe/index.js";
import { repoRoot } from "./helpers.js";

const FILE = "fuzz/recipe.yml";
/** MOE_MERGE_FUZZ_RUNS=20000 for a longer hunt; the default keeps `npm test` quick. */
const RUNS = Number(process.env.MOE_MERGE_FUZZ_RUNS ?? 250);

function checkParse(text: string, allowSameModelExperts = false): void {
	try {
		parseRecipe(text, FILE, { allowSameModelExperts });
	} catch (e) {
		const errors = e instanceof MultipleErrors ? e.errors : [e];
		assert.ok(e instanceof RecipeError || (e instanceof MultipleErrors && errors.length >= 2), `unexpected ${String(e)}\n--- input:\n${text}`);
		for (const error of errors) {
			assert.ok(error instanceof RecipeError, `unexpected ${String(error)}`);
			assert.ok(error.message.startsWith(`${FILE}:`), error.message);
			assert.ok(error.line !== undefined && error.line >= 1 && error.column !== undefined && error.column >= 1, error.message);
		}
	}
}

const root = repoRoot();
const samples = [
	...readdirSync(join(root, "tests", "fixtures", "recipes")).map((f) => join(root, "tests", "fixtures", "recipes", f)),
	...readdirSync(join(root, "recipes")).map((f) => join(root, "recipes", f)),
]
	.filter((f) => f.endsWith(".yml"))
	.map((f) => readFileSync(f, "utf8"));

const yamlChars = fc.constantFrom(..."abcxyz019 -:_.,/@+~&*!|>'\"#[]{}?%<\n\t\r\\".split(""), "base_model", "experts", "source_model", "positive_prompts", "gate_mode", "<<", "---", "\n  ", "\n    - ", "null", "messages", "role", "__proto__");
const fieldNames = fc.constantFrom("base_model", "experts", "gate_mode", "dtype", "experts_per_token", "shared_experts", "architecture", "source_model", "positive_prompts", "negative_prompts", "noise_scale", "residual_scale", "messages", "role", "content", "model", "lora", "path", "revision", "__proto__", "constructor", "<<");
const leaf = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom("hidden", "random", "org/name", "./x", "a+b", "bfloat16", "qwen", "user"));
const recipeLike = fc.letrec((tie) => ({
	value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fieldNames, tie("value"), { maxKeys: 6 })),
})).value;

describe("fuzz: only RecipeError / MultipleErrors escape", () => {
	it("survives arbitrary YAML-ish text", () => {
		fc.assert(
			fc.property(fc.string({ unit: yamlChars, maxLength: 80 }), (text) => checkParse(text)),
			{ numRuns: RUNS },
		);
	});

	it("survives arbitrary data shaped like a recipe", () => {
		fc.assert(
			fc.property(recipeLike, fc.boolean(), (value, allowSame) => checkParse(stringify(value), allowSame)),
			{ numRuns: RUNS },
		);
	});

	it("survives near-valid recipes with a field replaced", () => {
		const experts = [
			{ source_model: "org/a", positive_prompts: ["x"] },
			{ source_model: "org/b", positive_prompts: ["y"] },
		];
		fc.assert(
			fc.property(fieldNames, recipeLike, fc.nat(2), (field, value, where) => {
				const recipe: Record<string, unknown> = { base_model: "org/base", experts: structuredClone(experts) };
				if (where === 0) recipe[field] = value;
				else (recipe.experts as Record<string, unknown>[])[where - 1][field] = value;
				checkParse(stringify(recipe));
			}),
			{ numRuns: RUNS },
		);
	});

	it("survives edits of the real recipes", () => {
		fc.assert(
			fc.property(fc.constantFrom(...samples), fc.nat(), fc.nat(40), fc.string({ unit: yamlChars, maxLength: 8 }), (text, at, remove, insert) => {
				const start = at % (text.length + 1);
				checkParse(text.slice(0, start) + insert + text.slice(start + remove));
			}),
			{ numRuns: RUNS },
		);
	});

	it("survives odd Unicode and control characters", () => {
		fc.assert(
			fc.property(fc.string({ unit: "binary", maxLength: 60 }), (text) => checkParse(`base_model: ${text}\nexperts:\n  - source_model: ${text}\n`)),
			{ numRuns: RUNS },
		);
	});
});
