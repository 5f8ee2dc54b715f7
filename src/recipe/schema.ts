/**
 * The JSON Schema of recipes. schemas/recipe.schema.json is the single source (editors use it
 * too); it ships in the package beside dist/, so we look for it upwards from this module.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

export type JsonSchema = { [keyword: string]: unknown };

const SCHEMA_RELATIVE_PATH = join("schemas", "recipe.schema.json");

let cached: { schema: JsonSchema; validate: ValidateFunction } | undefined;

/** Path of schemas/recipe.schema.json (dist/recipe/ and .test-build/src/recipe/ differ in depth). */
export function schemaPath(): string {
	let dir = dirname(fileURLToPath(import.meta.url));
	for (;;) {
		const candidate = join(dir, SCHEMA_RELATIVE_PATH);
		if (existsSync(candidate)) return candidate;
		const parent = dirname(dir);
		if (parent === dir) throw new Error(`moe-merge is installed without ${SCHEMA_RELATIVE_PATH}`);
		dir = parent;
	}
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
