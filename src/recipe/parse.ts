/** parseRecipe / loadRecipe: YAML -> schema -> Recipe, reporting every mistake with its position. */
import { readFile } from "node:fs/promises";
import { RecipeError } from "../errors.js";
import { buildRecipe } from "./build.js";
import { locatedError } from "./location.js";
import type { RawRecipe } from "./raw.js";
import { ruleErrorsBesideSchemaErrors } from "./rules-beside-schema-errors.js";
import { explainSchemaErrors } from "./schema-errors.js";
import { recipeSchema, schemaErrors } from "./schema.js";
import type { ParseRecipeOptions, Recipe } from "./types.js";
import { readYaml, throwAll } from "./yaml-source.js";

/**
 * Parses and checks a recipe. `file` names it in messages and is the folder local model paths
 * are relative to. Throws RecipeError, or MultipleErrors with every problem found: YAML syntax errors
 * alone (they stop the reading), else the schema's and the rules' (references, mergekit's checks) together.
 */
export function parseRecipe(text: string, file: string, options: ParseRecipeOptions = {}): Recipe {
	const source = readYaml(text, file);
	if (source.data === null || source.data === undefined) {
		throw locatedError("the recipe is empty; it needs at least base_model and experts", { loc: { file, line: 1, column: 1 } });
	}
	const errors = schemaErrors(source.data);
	if (errors.length > 0) {
		throwAll([...explainSchemaErrors(errors, source, recipeSchema()), ...ruleErrorsBesideSchemaErrors(errors, source, text, options)]);
	}
	return buildRecipe({ raw: source.data as RawRecipe, source, text, options });
}

/** Reads and parses a recipe file. */
export async function loadRecipe(file: string, options: ParseRecipeOptions = {}): Promise<Recipe> {
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (e) {
		const code = (e as NodeJS.ErrnoException).code;
		const reason = code === "ENOENT" ? "no such recipe file" : code === "EISDIR" ? "is a folder, not a recipe file" : `cannot read the recipe (${(e as Error).message})`;
		throw new RecipeError(`${file}: ${reason}`, { file, cause: e });
	}
	return parseRecipe(text, file, options);
}
