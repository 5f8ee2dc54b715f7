/**
 * A recipe with schema errors still has mergekit's rules checked, so that every mistake is reported at
 * once (docs/recipes.md). The rules run on a copy of the data with each invalid field set aside (an
 * unknown field dropped, a wrong value removed); a rule error about a field set aside, or about a list
 * that holds one, would only be a consequence of it, and is left out.
 */
import type { ErrorObject } from "ajv";
import { MultipleErrors, RecipeError } from "../errors.js";
import { buildRecipe } from "./build.js";
import { type FieldPath, formatFieldPath } from "./location.js";
import type { RawRecipe } from "./raw.js";
import { toFieldPath } from "./schema-errors.js";
import type { ParseRecipeOptions } from "./types.js";
import type { YamlSource } from "./yaml-source.js";

export function ruleErrorsBesideSchemaErrors(errors: ErrorObject[], source: YamlSource, text: string, options: ParseRecipeOptions): RecipeError[] {
	if (!isMapping(source.data)) return [];
	const data = structuredClone(source.data);
	const setAside: FieldPath[] = [];
	for (const error of errors) {
		const path = toFieldPath(error.instancePath, source.data);
		if (error.keyword === "additionalProperties") {
			removeAt(data, [...path, String(error.params.additionalProperty)]);
			continue;
		}
		const field = fieldOf(error.keyword === "required" ? [...path, String(error.params.missingProperty)] : path);
		// The recipe, its expert list or one expert as a whole is not what it should be: no rule can be checked.
		if (!field) return [];
		setAside.push(field);
		removeAt(data, field);
	}
	const expertLists = [data.experts, data.shared_experts ?? []];
	if (!expertLists.every((list) => Array.isArray(list) && list.every(isMapping))) return [];
	// Whether prompts are needed depends on the gate mode: without a valid one, the rules that do not.
	if (setAside.some((p) => p[0] === "gate_mode")) data.gate_mode = "random";
	let found: RecipeError[] = [];
	try {
		buildRecipe({ raw: data as unknown as RawRecipe, source, text, options });
	} catch (error) {
		if (error instanceof MultipleErrors) found = error.errors.filter((e): e is RecipeError => e instanceof RecipeError);
		else if (error instanceof RecipeError) found = [error];
		else throw error;
	}
	const aside = setAside.map(formatFieldPath);
	return found.filter((e) => e.fieldPath === undefined || !aside.some((p) => contains(p, e.fieldPath!) || contains(e.fieldPath!, p)));
}

/** The field that holds `path`: a top-level field, or a field of one expert; undefined for the recipe, a list or an expert as a whole. */
function fieldOf(path: FieldPath): FieldPath | undefined {
	if (path[0] === "experts" || path[0] === "shared_experts") return path.length >= 3 ? path.slice(0, 3) : undefined;
	return path.length >= 1 ? path.slice(0, 1) : undefined;
}

/** Whether field path `outer` is `inner` or holds it (`experts` holds `experts[1].noise_scale`). */
function contains(outer: string, inner: string): boolean {
	return inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
}

function removeAt(data: Record<string, unknown>, path: FieldPath): void {
	let parent: unknown = data;
	for (const key of path.slice(0, -1)) parent = isMapping(parent) || Array.isArray(parent) ? (parent as Record<string | number, unknown>)[key] : undefined;
	if (isMapping(parent)) delete parent[String(path.at(-1))];
}

function isMapping(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}
