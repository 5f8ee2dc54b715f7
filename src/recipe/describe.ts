/** Short English for "what the schema wanted" and "what the recipe had", used in error messages. */
import type { JsonSchema } from "./schema.js";

/** `#/definitions/x` references resolved against the root schema. */
export function deref(schema: JsonSchema, root: JsonSchema): JsonSchema {
	let current = schema;
	for (let hops = 0; typeof current.$ref === "string" && hops < 16; hops++) {
		let target: unknown = root;
		for (const part of current.$ref.replace(/^#\/?/, "").split("/").filter(Boolean)) {
			target = (target as JsonSchema | undefined)?.[part];
		}
		if (typeof target !== "object" || target === null) break;
		current = target as JsonSchema;
	}
	return current;
}

function isNullSchema(schema: JsonSchema): boolean {
	return schema.type === "null";
}

function typesOf(schema: JsonSchema): string[] {
	const { type } = schema;
	const list = Array.isArray(type) ? type : type === undefined ? [] : [type];
	return list.filter((t): t is string => typeof t === "string" && t !== "null");
}

function withArticle(noun: string): string {
	return `${/^[aeiou]/i.test(noun) ? "an" : "a"} ${noun}`;
}

function plural(noun: string): string {
	return noun.startsWith("list of ") || noun.endsWith("s") ? noun : `${noun}s`;
}

/** The noun for one value of the schema: its title, else its type. */
export function nounOf(schema: JsonSchema, root: JsonSchema): string {
	const s = deref(schema, root);
	if (typeof s.title === "string") return s.title;
	const [type] = typesOf(s);
	if (type === "array") return "list";
	if (type === "object") return "mapping";
	return type ?? "value";
}

/** e.g. "a list of prompts", "an integer >= 1", "one of float32, float16, bfloat16". */
export function describeSchema(schema: JsonSchema, root: JsonSchema): string {
	const s = deref(schema, root);
	const single = (Array.isArray(s.allOf) ? s.allOf : []) as JsonSchema[];
	if (single.length === 1 && s.type === undefined) return describeSchema(single[0], root);
	if (Array.isArray(s.anyOf)) {
		const parts = (s.anyOf as JsonSchema[]).filter((p) => !isNullSchema(deref(p, root)));
		if (parts.length === 1) return describeSchema(parts[0], root);
		const inner = parts.map((p) => describeSchema(p, root)).join(" or ");
		return typeof s.title === "string" ? `${withArticle(s.title)} (${inner})` : inner;
	}
	if (Array.isArray(s.enum)) return `one of ${s.enum.filter((v) => v !== null && v !== "").join(", ")}`;
	const [type] = typesOf(s);
	const bound = typeof s.minimum === "number" ? ` >= ${s.minimum}` : "";
	switch (type) {
		case "integer":
			return `an integer${bound}`;
		case "number":
			return `a number${bound}`;
		case "string":
			return typeof s.title === "string" ? withArticle(s.title) : "a string";
		case "array": {
			const items = typeof s.items === "object" && s.items !== null ? (s.items as JsonSchema) : undefined;
			if (typeof s.title === "string") return withArticle(s.title);
			return items ? `a list of ${plural(nounOf(items, root))}` : "a list";
		}
		case "object": {
			if (typeof s.title !== "string") return "a mapping";
			// "an expert (a mapping with source_model)": says what to write, not just what it is called.
			const required = Array.isArray(s.required) ? s.required : [];
			return s.title.includes("mapping") || required.length === 0 ? withArticle(s.title) : `${withArticle(s.title)} (a mapping with ${required.join(", ")})`;
		}
		default:
			return "a valid value";
	}
}

/** What kind of value the recipe had, for type errors: "a string", "a list", "0", "null". */
export function describeKind(value: unknown): string {
	if (value === null || value === undefined) return "null";
	if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
	if (typeof value === "object") return "a mapping";
	if (typeof value === "string") return value === "" ? "an empty string" : "a string";
	return String(value);
}

/** The value itself, for enum and range errors: `"hiden"`, `0`. Long strings are cut. */
export function describeValue(value: unknown): string {
	if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
	return describeKind(value);
}

export function pluralize(count: number, noun: string): string {
	return count === 1 ? noun : plural(noun);
}
