/** loadRecipe: reading files, and what happens when there is no file. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RecipeError } from "../../src/errors.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { VALID } from "./helpers.js";

let dir = "";
before(() => {
	dir = mkdtempSync(join(tmpdir(), "moe-merge-load-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("loadRecipe", () => {
	it("reads a file and names it in the recipe", async () => {
		const file = join(dir, "ok.yml");
		writeFileSync(file, `${VALID.join("\n")}\n`);
		const recipe = await loadRecipe(file);
		assert.equal(recipe.file, file);
		assert.equal(recipe.experts.length, 2);
	});

	it("names a missing file", async () => {
		const file = join(dir, "missing.yml");
		await assert.rejects(loadRecipe(file), (e: unknown) => e instanceof RecipeError && e.message === `${file}: no such recipe file` && e.file === file);
	});

	it("refuses a folder", async () => {
		await assert.rejects(loadRecipe(dir), (e: unknown) => e instanceof RecipeError && e.message === `${dir}: is a folder, not a recipe file`);
	});

	it("passes options through", async () => {
		const file = join(dir, "same.yml");
		writeFileSync(file, ["base_model: org/base", "experts:", "  - source_model: org/a", "    positive_prompts: [x]", "  - source_model: org/a", "    positive_prompts: [y]", ""].join("\n"));
		await assert.rejects(loadRecipe(file), /--i-understand-this-is-not-useful-without-training/);
		assert.equal((await loadRecipe(file, { allowSameModelExperts: true })).experts.length, 2);
	});

	it("reports errors with the path as given", async () => {
		const file = join(dir, "bad.yml");
		writeFileSync(file, "base_model: org/base\nexperts: 3\n");
		await assert.rejects(loadRecipe(file), (e: unknown) => e instanceof RecipeError && e.message === `${file}:2:10: experts: expected a list of experts, got 3`);
	});
});
