/**
 * Turns ajv's raw errors into one clear message per mistake, at the YAML position it is about.
 * ajv reports every failed branch of an `anyOf` (e.g. a prompt is "not a string" AND "not a
 * mapping"); we keep the branch the value was meant for and fold the rest into one "expected X".
 */
import type { ErrorObject } from "ajv";
import type { RecipeError } from "../errors.js";
import { describeKind, describeSchema, describeValue, nounOf, pluralize } from "./describe.js";
import { type FieldPath, locatedError } from "./location.js";
import type { JsonSchema } from "./schema.js";
import { closest, didYouMean } from "./suggest.js";
import type { YamlSource } from "./yaml-source.js";

/** Names people use for fields that edit distance alone would not connect. */
const FIELD_ALIASES: Record<string, string> = {
	num_experts_per_tok: "experts_per_token",
	num_experts_per_token: "experts_per_token",
	top_k: "experts_per_token",
	model: "source_model",
	source: "source_model",
	prompts: "positive_prompts",
	torch_dtype: "dtype",
	base: "base_model",
};

/** Spellings of enum values from other tools. */
const VALUE_ALIASES: Record<string, string> = {
	bf16: "bfloat16",
	fp16: "float16",
	half: "float16",
	fp32: "float32",
	float: "float32",
};

/** The schema title of chat prompts (`{messages: [...]}`), see schemas/recipe.schema.json. */
const CHAT_PROMPT_TITLE = "{messages: [...]} mapping";

const SUMMARY_KEYWORDS = new Set(["anyOf", "oneOf", "allOf", "if"]);

export function explainSchemaErrors(errors: ErrorObject[], source: YamlSource, root: JsonSchema): RecipeError[] {
	const byPath = new Map<string, ErrorObject[]>();
	for (const error of errors) {
		const group = byPath.get(error.instancePath) ?? [];
		group.push(error);
		byPath.set(error.instancePath, group);
	}

	const out: RecipeError[] = [];
	const seen = new Set<string>();
	const push = (error: RecipeError): void => {
		if (seen.has(error.message)) return;
		seen.add(error.message);
		out.push(error);
	};

	for (const [instancePath, group] of byPath) {
		const path = toFieldPath(instancePath, source.data);
		const colon = colonTrap(group);
		if (colon !== undefined) {
			push(locatedError(colon, { loc: source.locate(path), path }));
			continue;
		}
		const specific = group.filter((e) => e.keyword !== "type" && !SUMMARY_KEYWORDS.has(e.keyword));
		if (specific.length > 0) {
			// Some branch accepted the value's type and says what is wrong inside it.
			const suggested = new Set<string>();
			for (const e of specific) {
				if (e.keyword !== "additionalProperties") continue;
				const suggestion = unknownFieldSuggestion(e);
				if (suggestion !== undefined) suggested.add(suggestion);
			}
			for (const e of specific) {
				// "unknown field mesages; did you mean messages" already says that messages is missing.
				if (e.keyword === "required" && suggested.has(String(e.params.missingProperty))) continue;
				push(explainOne(e, path, source, root));
			}
			continue;
		}
		const deeper = [...byPath.keys()].some((p) => p.startsWith(`${instancePath}/`));
		if (deeper) continue; // the errors inside the value explain it better
		const summaries = group.filter((e) => SUMMARY_KEYWORDS.has(e.keyword));
		const outer = summaries.at(-1) ?? group[0];
		push(typeError(outer.parentSchema as JsonSchema, group[0].data, path, source, root));
	}
	return out;
}

function explainOne(e: ErrorObject, path: FieldPath, source: YamlSource, root: JsonSchema): RecipeError {
	const schema = (e.parentSchema ?? {}) as JsonSchema;
	switch (e.keyword) {
		case "additionalProperties": {
			const field = String(e.params.additionalProperty);
			const known = knownFields(schema);
			const suggestion = unknownFieldSuggestion(e);
			const text = suggestion !== undefined ? `unknown field; did you mean "${suggestion}"?` : `unknown field; the fields here are ${known.join(", ")}`;
			return locatedError(text, { loc: source.locateKey([...path, field]), path: [...path, field] });
		}
		case "required":
			return locatedError(`missing required field "${String(e.params.missingProperty)}"`, { loc: source.locate(path), path });
		case "enum": {
			// null and "" are accepted as "absent"; listing them would only confuse.
			const allowed = (e.params.allowedValues as unknown[]).filter((v) => v !== null && v !== "").map(String);
			const hint = typeof e.data === "string" ? didYouMean(e.data, allowed, { aliases: VALUE_ALIASES }) : "";
			return locatedError(`expected one of ${allowed.join(", ")} but got ${describeValue(e.data)}${hint}`, { loc: source.locate(path), path });
		}
		case "minimum":
		case "maximum":
			return locatedError(`expected ${describeSchema(schema, root)}, got ${describeValue(e.data)}`, { loc: source.locate(path), path });
		case "minItems": {
			const limit = Number(e.params.limit);
			const items = typeof schema.items === "object" && schema.items !== null ? (schema.items as JsonSchema) : {};
			const count = Array.isArray(e.data) ? e.data.length : 0;
			return locatedError(`expected at least ${limit} ${pluralize(limit, nounOf(items, root))}, got ${count === 0 ? "an empty list" : count}`, {
				loc: source.locate(path),
				path,
			});
		}
		case "minLength":
			return locatedError("must not be empty", { loc: source.locate(path), path });
		default:
			return locatedError(e.message ?? `invalid value (${e.keyword})`, { loc: source.locate(path), path });
	}
}

/**
 * `- Note: be careful` or `- def f(x):` in a prompt list is a mapping to YAML (and to mergekit,
 * which rejects it too). That deserves its own explanation rather than "missing messages".
 */
function colonTrap(group: ErrorObject[]): string | undefined {
	const chat = group.find((e) => (e.parentSchema as JsonSchema | undefined)?.title === CHAT_PROMPT_TITLE);
	const data = chat?.data;
	if (typeof data !== "object" || data === null || Array.isArray(data) || Object.hasOwn(data, "messages")) return undefined;
	const keys = Object.keys(data);
	const [key] = keys;
	// A misspelt `messages:` or a nested structure is a chat prompt gone wrong, not a colon trap.
	if (keys.length !== 1 || closest(key, ["messages"]) !== undefined) return undefined;
	const value: unknown = (data as Record<string, unknown>)[key];
	if (typeof value === "object" && value !== null) return undefined;
	return `expected a prompt, got a mapping with the key ${JSON.stringify(key)}: unquoted text with ": " or a final ":" is a key to YAML; put the prompt in quotes`;
}

function typeError(schema: JsonSchema, value: unknown, path: FieldPath, source: YamlSource, root: JsonSchema): RecipeError {
	const expected = path.length === 0 ? "a mapping of recipe fields (base_model, experts, ...)" : describeSchema(schema, root);
	return locatedError(`expected ${expected}, got ${describeKind(value)}`, { loc: source.locate(path), path });
}

function knownFields(schema: JsonSchema): string[] {
	const properties = schema.properties;
	return typeof properties === "object" && properties !== null ? Object.keys(properties) : [];
}

function unknownFieldSuggestion(e: ErrorObject): string | undefined {
	return closest(String(e.params.additionalProperty), knownFields((e.parentSchema ?? {}) as JsonSchema), { aliases: FIELD_ALIASES });
}

/** `/experts/1/noise_scal` -> ["experts", 1, "noise_scal"]; list indexes become numbers. */
export function toFieldPath(instancePath: string, data: unknown): FieldPath {
	const out: (string | number)[] = [];
	let current: unknown = data;
	for (const raw of instancePath.split("/").slice(1)) {
		const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
		if (Array.isArray(current) && /^\d+$/.test(part)) {
			out.push(Number(part));
			current = current[Number(part)];
		} else {
			out.push(part);
			current = typeof current === "object" && current !== null ? (current as Record<string, unknown>)[part] : undefined;
		}
	}
	return out;
}
