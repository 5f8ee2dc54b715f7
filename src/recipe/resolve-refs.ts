/** Model references of the validated data -> ModelRef, with located errors. */
import { RecipeError } from "../errors.js";
import { type FieldPath, locatedError } from "./location.js";
import { parseModelRef, parsePlainRef } from "./model-ref.js";
import type { RawModelPath, RawModelRef } from "./raw.js";
import type { ModelRef } from "./types.js";
import type { YamlSource } from "./yaml-source.js";

export interface RefContext {
	source: YamlSource;
	baseDir: string;
	errors: RecipeError[];
}

/** The ModelRef at `path`, or undefined after recording why it cannot be used. */
export function resolveRef(raw: RawModelRef, path: FieldPath, ctx: RefContext): ModelRef | undefined {
	const fail = (text: string, hint?: string, cause?: unknown): undefined => {
		ctx.errors.push(locatedError(text, { loc: ctx.source.locate(path), path, hint, cause }));
		return undefined;
	};
	let ref: ModelRef;
	try {
		ref = typeof raw === "string" ? parseModelRef(raw, ctx.baseDir) : parseLongForm(raw, ctx.baseDir);
	} catch (e) {
		if (e instanceof RecipeError) return fail(e.message, e.hint, e);
		throw e;
	}
	if (typeof raw !== "string" && raw.override_architecture != null) {
		return fail("override_architecture is not supported yet", "remove it, or fix `architectures` in the model's config.json");
	}
	return ref;
}

/** mergekit's `{model: "org/name@rev" | {path, revision}, lora: ...}`. */
function parseLongForm(raw: Exclude<RawModelRef, string>, baseDir: string): ModelRef {
	const base = plain(raw.model, baseDir);
	if (raw.lora == null) return base;
	const lora = plain(raw.lora, baseDir);
	return { kind: "lora", base, lora, text: `${base.text}+${lora.text}` };
}

function plain(raw: RawModelPath, baseDir: string): ModelRef {
	if (typeof raw === "string") return parsePlainRef(raw, baseDir);
	const ref = parsePlainRef(raw.path, baseDir, raw.revision ?? undefined);
	return { ...ref, text: pathText(raw) };
}

function pathText(raw: RawModelPath): string {
	if (typeof raw === "string") return raw;
	return raw.revision == null ? raw.path : `${raw.path}@${raw.revision}`;
}
