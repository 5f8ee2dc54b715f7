/**
 * The JSON Schema of recipes. schemas/recipe.schema.json is the single source (editors use it
 * too); it ships in the package beside dist/.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { PACKAGE_ROOT } from "../package-root.js";

export type JsonSchema = { [keyword: string]: unknown };

const SCHEMA_RELATIVE_PATH = join("schemas", "recipe.schema.json");

let cached: { schema: JsonSchema; validate: ValidateFunction } | undefined;

/** Path of schemas/recipe.schema.json in the package. */
export function schemaPath(): string {
	const path = join(PACKAGE_ROOT, SCHEMA_RELATIVE_PATH);
	if (!existsSync(path)) throw new Error(`moe-merge is installed without ${SCHEMA_RELATIVE_PATH}`);
	return path;
}

function compiled(): { schema: JsonSchema; validate: ValidateFunction } {
	if (cached === undefined) {
		const schema = JSON.parse(readFileSync(schemaPath(), "utf8")) as JsonSchema;
		// verbose: errors carry their schema node and value, which the messages are made from.
		const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
		cached = { schema, validate: ajv.compile(schema) };
	}
	return cached;
}

export function recipeSchema(): JsonSchema {
	return compiled().schema;
}

/** Every schema violation of `data` (empty when valid). */
export function schemaErrors(data: unknown): ErrorObject[] {
	const { validate } = compiled();
	return validate(data) ? [] : [...(validate.errors ?? [])];
}
