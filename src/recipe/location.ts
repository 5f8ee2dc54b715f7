/** Turning positions into `file:line:col: field: message` RecipeErrors. */
import { RecipeError } from "../errors.js";
import type { SourceLoc } from "./types.js";

/** A path into the recipe data: keys and list indexes, e.g. ["experts", 1, "noise_scale"]. */
export type FieldPath = readonly (string | number)[];

/** `experts[1].noise_scale`; odd keys are quoted so the path stays readable. */
export function formatFieldPath(path: FieldPath): string {
	let out = "";
	for (const part of path) {
		if (typeof part === "number") out += `[${part}]`;
		else if (/^[A-Za-z_][\w-]*$/.test(part)) out += out === "" ? part : `.${part}`;
		else out += `[${JSON.stringify(part)}]`;
	}
	return out;
}

export interface LocatedErrorOptions {
	loc: SourceLoc;
	path?: FieldPath;
	hint?: string;
	cause?: unknown;
}

export function locatedError(text: string, options: LocatedErrorOptions): RecipeError {
	const { loc } = options;
	const fieldPath = options.path === undefined ? "" : formatFieldPath(options.path);
	const prefix = `${loc.file}:${loc.line}:${loc.column}: ${fieldPath === "" ? "" : `${fieldPath}: `}`;
	return new RecipeError(prefix + text, {
		file: loc.file,
		line: loc.line,
		column: loc.column,
		fieldPath: fieldPath === "" ? undefined : fieldPath,
		hint: options.hint,
		cause: options.cause,
	});
}
