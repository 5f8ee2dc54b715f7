/** Shared helpers for the recipe tests. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MultipleErrors, RecipeError } from "../../src/errors.js";
import { parseRecipe } from "../../src/recipe/index.js";
import type { ParseRecipeOptions, Recipe } from "../../src/recipe/index.js";

/** The repository root (tests run compiled from .test-build/tests/recipe/). */
export function repoRoot(): string {
	let dir = dirname(fileURLToPath(import.meta.url));
	while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "schemas"))) {
		const parent = dirname(dir);
		if (parent === dir) throw new Error("repository root not found");
		dir = parent;
	}
	return dir;
}

/** The RecipeErrors a parse throws (one or several); fails if it does not throw them. */
export function errorsOf(fn: () => unknown): RecipeError[] {
	try {
		fn();
	} catch (e) {
		if (e instanceof MultipleErrors) {
			for (const inner of e.errors) assert.ok(inner instanceof RecipeError, `not a RecipeError: ${inner}`);
			return e.errors as RecipeError[];
		}
		if (e instanceof RecipeError) return [e];
		throw e;
	}
	assert.fail("expected a RecipeError");
}

/** Parses YAML given as lines (so tests read like the file), in a recipe "recipe.yml". */
export function parseLines(lines: string[], options?: ParseRecipeOptions): Recipe {
	return parseRecipe(`${lines.join("\n")}\n`, "recipe.yml", options);
}

export function messagesOf(lines: string[], options?: ParseRecipeOptions): string[] {
	return errorsOf(() => parseLines(lines, options)).map((e) => e.message);
}

/** A minimal valid recipe's lines, with two different hub experts. */
export const VALID = [
	"base_model: mistralai/Mistral-7B-v0.1",
	"experts:",
	"  - source_model: org/code-model",
	"    positive_prompts:",
	"      - Write a Python function",
	"  - source_model: org/story-model",
	"    positive_prompts:",
	"      - Once upon a time",
];
