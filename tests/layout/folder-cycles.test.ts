/**
 * The import graph of src/ (docs/development.md, "Layout"): folders depend on each other in one
 * direction only, each on folders before it in the data flow, and no file imports one that imports it back.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../src/package-root.js";

const SRC = join(PACKAGE_ROOT, "src");

/**
 * The folders of src/ in the order of docs/development.md, step by step: the foundation (imported by
 * any step, importing none), then the data flow (recipe -> inputs -> plan -> gates/model -> output ->
 * lock), what reads a finished checkpoint, then what drives it. A folder imports only folders of its own step or of steps before it
 * (within a step, no cycle: checked below with the others).
 */
const STEPS: readonly (readonly string[])[] = [
	["types", "util", "random", "kernels", "safetensors", "gguf", "checkpoint"],
	["hub"],
	["recipe", "inputs", "architectures", "tokenize"],
	["plan"],
	["gates", "model", "lora"],
	["output"],
	["lock"],
	["gguf-convert", "verify", "report"],
	["resume"],
	["merge", "extract"],
	["cli", "demo"],
];

const stepOf = (folder: string): number => STEPS.findIndex((step) => step.includes(folder));

/** Relative imports of every .ts file of src/ (static, re-exports, `import type` and dynamic): file -> files. */
function fileImports(): Map<string, Set<string>> {
	const graph = new Map<string, Set<string>>();
	for (const file of tsFiles(SRC)) {
		const targets = new Set<string>();
		for (const match of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"|import\("(\.[^"]+)"\)/g)) {
			targets.add(resolve(dirname(file), (match[1] ?? match[2]!).replace(/\.js$/, ".ts")));
		}
		graph.set(file, targets);
	}
	return graph;
}

/** Folder -> folders its files import (files at the top of src/ are not a folder: errors.ts, version.ts, index.ts). */
function folderImports(files: Map<string, Set<string>>): Map<string, Set<string>> {
	const edges = new Map<string, Set<string>>();
	for (const [file, targets] of files) {
		const from = relative(SRC, file).split("/");
		if (from.length < 2) continue;
		for (const target of targets) {
			const to = relative(SRC, target).split("/");
			if (to.length < 2 || to[0] === from[0]) continue;
			edges.set(from[0]!, (edges.get(from[0]!) ?? new Set()).add(to[0]!));
		}
	}
	return edges;
}

function tsFiles(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
		e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
	);
}

/** A path of nodes from `start` back to itself, or undefined. */
function cycleFrom<T>(start: T, edges: Map<T, Set<T>>): T[] | undefined {
	const seen = new Set<T>();
	const walk = (at: T, path: T[]): T[] | undefined => {
		for (const next of edges.get(at) ?? []) {
			if (next === start) return [...path, next];
			if (seen.has(next)) continue;
			seen.add(next);
			const found = walk(next, [...path, next]);
			if (found) return found;
		}
		return undefined;
	};
	return walk(start, [start]);
}

/** Imports from a folder to one of a later step: "from -> to". */
function arrowsBackUp(edges: Map<string, Set<string>>): string[] {
	return [...edges].flatMap(([from, tos]) => [...tos].filter((to) => stepOf(to) > stepOf(from)).map((to) => `${from} -> ${to}`));
}

describe("src/ imports", () => {
	const files = fileImports();
	const edges = folderImports(files);
	it("every folder has its place in the order", () => {
		const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
		assert.deepEqual(folders.filter((f) => stepOf(f) < 0), [], "add the new folder to STEPS here and to the map in docs/development.md");
	});
	it("go from each folder only to folders of its step or before: no arrow back up the flow", () => {
		assert.ok(edges.size > 5, "the import scan found the folders");
		assert.deepEqual(arrowsBackUp(edges), []);
		assert.ok(!edges.get("lock")?.has("hub"), "lock/ imports hub/");
		assert.ok(!edges.get("hub")?.has("output"), "hub/ imports output/");
	});
	it("make no cycle of folders", () => {
		for (const folder of edges.keys()) assert.equal(cycleFrom(folder, edges)?.join(" -> "), undefined);
	});
	it("make no cycle of files", () => {
		for (const file of files.keys()) assert.equal(cycleFrom(file, files)?.map((f) => relative(SRC, f)).join(" -> "), undefined);
	});
	it("the checks find a planted cycle and a planted arrow back up", () => {
		const planted = new Map([...edges].map(([k, v]) => [k, new Set(v)]));
		planted.set("safetensors", new Set([...(planted.get("safetensors") ?? []), "merge"]));
		assert.ok(cycleFrom("merge", planted));
		assert.deepEqual(arrowsBackUp(planted), ["safetensors -> merge"]);
	});
});
