/**
 * Reads the recipe YAML into plain data while keeping the node tree, so that schema and semantic
 * errors found later on the data can point at the line and column they are about.
 */
import { Document, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, visit } from "yaml";
import type { Node, Pair } from "yaml";
import { MultipleErrors, type RecipeError } from "../errors.js";
import { type FieldPath, locatedError } from "./location.js";
import { findDeepNesting } from "./yaml-depth.js";
import type { SourceLoc } from "./types.js";

/** Aliases may be used to share prompt lists, but not to blow up memory ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;
/** Far more than any recipe needs, far less than what overflows the stack of the YAML composer. */
const MAX_NESTING = 64;

export interface YamlSource {
	file: string;
	data: unknown;
	/** Position of the value at `path` (or of the deepest part of it that exists). */
	locate(path: FieldPath): SourceLoc;
	/** Position of the key that introduces `path`'s last part (falls back to the value). */
	locateKey(path: FieldPath): SourceLoc;
}

/** Parses YAML text; syntax errors (all of them) become RecipeError / MultipleErrors. */
export function readYaml(text: string, file: string): YamlSource {
	const lineCounter = new LineCounter();
	// merge: PyYAML (and so mergekit) understands `<<: *anchor`. uniqueKeys: PyYAML silently keeps
	// the last of duplicate keys; we refuse them, as a second `gate_mode:` is surely a mistake.
	// logLevel error: the yaml library must not print process warnings from inside a CLI run.
	const deep = findDeepNesting(text, MAX_NESTING);
	if (deep) {
		const { line, col } = lineCounterOf(text).linePos(deep.offset);
		throw locatedError(`the YAML nests more than ${MAX_NESTING} levels deep; a recipe needs a handful`, { loc: { file, line, column: col } });
	}
	const doc = parseDocument(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: false, logLevel: "error" });
	const at = (offset: number): SourceLoc => {
		const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
		return { file, line, column: col };
	};

	// Key texts by offset, to name the key of a DUPLICATE_KEY error (its range is one character).
	const keysAt = new Map<number, string>();
	const structural: RecipeError[] = [];
	visit(doc, {
		Pair(_, pair) {
			const key = deref(doc, asNode(pair.key));
			if (isScalar(key) && key.range) keysAt.set(key.range[0], String(key.source ?? key.value));
			// PyYAML refuses these too ("unhashable key"); the yaml library would stringify them.
			if (isMap(key) || isSeq(key)) structural.push(locatedError("a key must be text, not a list or mapping", { loc: at(key.range?.[0] ?? 0) }));
		},
		Alias(_, alias) {
			if (alias.resolve(doc) === undefined) {
				structural.push(locatedError(`unknown alias *${alias.source}: define the anchor &${alias.source} before using it`, { loc: at(alias.range?.[0] ?? 0) }));
			}
		},
	});
	const syntax = doc.errors.map((e) => locatedError(yamlReason(e.code, e.message, keysAt.get(e.pos[0]) ?? ""), { loc: at(e.pos[0]) }));
	throwAll([...syntax, ...structural]);

	let data: unknown;
	try {
		data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
	} catch (e) {
		// Alias explosions and bad merge sources are only found while building the data.
		throw locatedError(`cannot read the YAML: ${e instanceof Error ? e.message : String(e)}`, { loc: at(0), cause: e });
	}

	const nodeAt = (path: FieldPath): { key?: Node; value?: Node } => walk(doc, path);
	const position = (node: Node | undefined, fallback: SourceLoc): SourceLoc => {
		const start = node?.range?.[0];
		return start === undefined ? fallback : at(start);
	};
	const start = position(doc.contents ?? undefined, at(0));
	const locate = (path: FieldPath): SourceLoc => {
		const { key, value } = nodeAt(path);
		// `key:` with nothing after it: the empty value sits at the end of the line; point at the key.
		if (value && isScalar(value) && value.value === null && value.source === "" && key) return position(key, start);
		return position(value ?? key, start);
	};
	const locateKey = (path: FieldPath): SourceLoc => {
		const { key, value } = nodeAt(path);
		return position(key ?? value, start);
	};
	return { file, data, locate, locateKey };
}

export function throwAll(errors: RecipeError[]): void {
	if (errors.length === 0) return;
	if (errors.length === 1) throw errors[0];
	const sorted = [...errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
	throw new MultipleErrors(sorted);
}

/** Our wording for the errors users meet most; the yaml library's own reason for the rest. */
function yamlReason(code: string, message: string, key: string): string {
	if (code === "DUPLICATE_KEY") return `duplicate key ${JSON.stringify(key)}: each field may appear only once`;
	if (code === "MULTIPLE_DOCS") return "a recipe is a single YAML document; remove the extra `---` documents";
	return `invalid YAML: ${message}`;
}

/** Follows `path` through maps, lists, aliases and `<<` merges as far as it exists. */
function walk(doc: Document, path: FieldPath): { key?: Node; value?: Node } {
	let value: Node | undefined = deref(doc, doc.contents ?? undefined);
	let key: Node | undefined;
	for (const part of path) {
		if (value === undefined) break;
		let next: { key?: Node; value?: Node } | undefined;
		if (isSeq(value) && typeof part === "number") {
			next = { value: asNode(value.items[part]) };
		} else if (isMap(value)) {
			const pair = findPair(doc, value.items, String(part), 0);
			if (pair) next = { key: asNode(pair.key), value: asNode(pair.value) ?? asNode(pair.key) };
		}
		if (next === undefined) break;
		key = next.key;
		value = deref(doc, next.value);
	}
	return { key, value };
}

function findPair(doc: Document, items: unknown[], name: string, depth: number): Pair | undefined {
	let merged: Pair | undefined;
	for (const item of items) {
		if (!isPair(item)) continue;
		if (keyText(item.key) === name) return item;
		// A key can come from `<<: *anchor` (or a list of them); it loses to a key written here.
		if (merged === undefined && depth < 8 && isMergeKey(item.key)) {
			const sources = isSeq(item.value) ? item.value.items : [item.value];
			for (const source of sources) {
				const map = deref(doc, asNode(source));
				if (isMap(map)) merged ??= findPair(doc, map.items, name, depth + 1);
			}
		}
	}
	return merged;
}

function keyText(key: unknown): string | undefined {
	if (isScalar(key) && typeof key.value !== "symbol") return String(key.value);
	return undefined;
}

/** With `merge: true` the yaml library marks `<<` keys with a symbol value. */
function isMergeKey(key: unknown): boolean {
	return isScalar(key) && typeof key.value === "symbol";
}

function asNode(value: unknown): Node | undefined {
	return isScalar(value) || isMap(value) || isSeq(value) || isAlias(value) ? (value as Node) : undefined;
}

function deref(doc: Document, node: Node | undefined): Node | undefined {
	let current = node;
	for (let hops = 0; current && isAlias(current) && hops < 8; hops++) current = asNode(current.resolve(doc));
	return current;
}

/** Line positions of a text that parseDocument has not seen. */
function lineCounterOf(text: string): LineCounter {
	const counter = new LineCounter();
	counter.addNewLine(0);
	for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) counter.addNewLine(i + 1);
	return counter;
}
