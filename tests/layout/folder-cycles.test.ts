/** The folders of src/ depend on each other in one direction only: no folder imports one that imports it back. */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../src/package-root.js";

const SRC = join(PACKAGE_ROOT, "src");

/** Folder -> folders its files import (relative imports only; files at the top of src/ are not a folder). */
function folderImports(): Map<string, Set<string>> {
	const edges = new Map<string, Set<string>>();
	for (const file of tsFiles(SRC)) {
		const from = relative(SRC, file).split("/");
		if (from.length < 2) continue;
		for (const [, spec] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
			const to = relative(SRC, resolve(dirname(file), spec)).split("/");
			if (to.length < 2 || to[0] === from[0]) continue;
			edges.set(from[0], (edges.get(from[0]) ?? new Set()).add(to[0]));
		}
	}
	return edges;
}

function tsFiles(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
		e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
	);
}

/** A path of folders from `start` back to itself, or undefined. */
function cycleFrom(start: string, edges: Map<string, Set<string>>): string[] | undefined {
	const walk = (at: string, path: string[], seen: Set<string>): string[] | undefined => {
		for (const next of edges.get(at) ?? []) {
			if (next === start) return [...path, next];
			if (seen.has(next)) continue;
			seen.add(next);
			const found = walk(next, [...path, next], seen);
			if (found) return found;
		}
		return undefined;
	};
	return walk(start, [start], new Set());
}

describe("src/ folders", () => {
	const edges = folderImports();
	it("import each other without cycles", () => {
		assert.ok(edges.size > 5, "the import scan found the folders");
		for (const folder of edges.keys()) assert.equal(cycleFrom(folder, edges)?.join(" -> "), undefined);
	});
	it("the cycle finder finds a planted cycle", () => {
		const planted = new Map([...edges].map(([k, v]) => [k, new Set(v)]));
		planted.set("safetensors", new Set([...(planted.get("safetensors") ?? []), "merge"]));
		assert.ok(cycleFrom("merge", planted));
	});
});
