/**
 * Recipes from disk that blow up as YAML (alias bombs, nesting thousands deep, merge loops, binary)
 * end in a RecipeError with a position, quickly, never a stack overflow or a hang. tests/recipe/fuzz.test.ts
 * fuzzes the parser on arbitrary text; this adds the seed corpus and resource attacks.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MultipleErrors, RecipeError } from "../../src/errors.js";
import { loadRecipe } from "../../src/recipe/index.js";
import { CORPUS, RUNS, caseCounter, endsTyped, seeds, tempDir } from "./helpers.js";

const count = caseCounter("recipe loader");
const corpus = seeds("recipes");
const dir = await tempDir();

async function load(text: string, what: string, ms = 2000): Promise<void> {
	count();
	const file = join(dir, "fuzz.yml");
	await writeFile(file, text);
	const outcome = await endsTyped(() => loadRecipe(file), [RecipeError, MultipleErrors], what, ms);
	if (!(outcome instanceof Error)) return;
	for (const e of outcome instanceof MultipleErrors ? outcome.errors : [outcome]) {
		assert.ok(e instanceof RecipeError && e.line !== undefined && e.line >= 1, `${what}: ${e.message} has no position`);
	}
}

/** `k` anchors, each a list of `m` aliases of the one before: m^k strings once expanded. */
function aliasChain(k: number, m: number, where: "prompts" | "top"): string {
	const lines = ["x0: &a0 [lol]"];
	for (let i = 1; i < k; i++) lines.push(`x${i}: &a${i} [${Array(m).fill(`*a${i - 1}`).join(", ")}]`);
	const last = `*a${k - 1}`;
	return where === "top"
		? `${lines.join("\n")}\nbase_model: org/base\nexperts:\n  - source_model: org/a\n    positive_prompts: [x]\n`
		: `base_model: org/base\nexperts:\n  - source_model: org/a\n    positive_prompts:\n${lines.map((l) => `      - ${l.replace(/^x\d+: /, "")}`).join("\n")}\n      - ${last}\n`;
}

function nested(kind: "flow" | "block" | "map", n: number): string {
	if (kind === "flow") return `base_model: ${"[".repeat(n)}org/base${"]".repeat(n)}\nexperts: []\n`;
	if (kind === "block") return `base_model: org/base\nexperts:\n  ${"- ".repeat(n)}x\n`;
	return `base_model: org/base\nexperts: ${"{a: ".repeat(n)}1${"}".repeat(n)}\n`;
}

describe("fuzz: the recipe loader", () => {
	it("refuses every seed of the corpus with a positioned RecipeError", async () => {
		for (const [name, bytes] of corpus) {
			await load(bytes.toString("utf8"), name, 5000);
			await assert.rejects(loadRecipe(join(CORPUS, "recipes", name)), (e: Error) => e instanceof RecipeError || e instanceof MultipleErrors, name);
		}
	});

	it("alias bombs of any shape stop at the alias limit", async () => {
		await fc.assert(
			fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom("prompts" as const, "top" as const), async (k, m, where) => {
				await load(aliasChain(k, m, where), `alias chain ${k}x${m} in ${where}`);
			}),
			{ numRuns: Math.min(RUNS, 300) },
		);
	});

	it("nesting of any depth, flow or block, is refused or read, without overflowing the stack", async () => {
		await fc.assert(
			fc.asyncProperty(fc.constantFrom("flow" as const, "block" as const, "map" as const), fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 100, max: 3000 })), async (kind, n) => {
				await load(nested(kind, n), `${kind} nesting ${n}`);
			}),
			{ numRuns: Math.min(RUNS, 300) },
		);
	});

	it("survives edits of the small seeds", async () => {
		const texts = [...corpus.values()].map((b) => b.toString("utf8")).filter((t) => t.length < 2000);
		await fc.assert(
			fc.asyncProperty(fc.constantFrom(...texts), fc.nat(), fc.nat(10), fc.constantFrom("", "*a", "&a ", "<<: ", "[", "{", "- ", "\n  ", ": ", "!!str ", "*j", "\u0000"), async (text, at, remove, insert) => {
				const start = at % (text.length + 1);
				await load(text.slice(0, start) + insert + text.slice(start + remove), `seed edited at ${start}`);
			}),
			{ numRuns: RUNS },
		);
	});
});
