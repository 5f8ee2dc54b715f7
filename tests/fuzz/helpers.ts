import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { FIXTURES } from "../merge/helpers.js";

export { tempDir } from "../merge/helpers.js";

/** `npm run fuzz` sets MOE_MERGE_FUZZ_RUNS=20000 for a longer hunt; the default keeps `npm test` to seconds. */
export const RUNS = Number(process.env.MOE_MERGE_FUZZ_RUNS ?? 200);
export const CORPUS = join(FIXTURES, "fuzz");

/** The seed files of one corpus folder (tests/fixtures/fuzz/make-corpus.mjs), name -> bytes. */
export function seeds(kind: "safetensors" | "index" | "recipes"): Map<string, Buffer> {
	const dir = join(CORPUS, kind);
	return new Map(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name))]));
}

/** Counts the cases a test file ran and reports the total when it ends (the figure for `npm run fuzz`). */
export function caseCounter(label: string): () => void {
	let cases = 0;
	after(() => console.log(`fuzz ${label}: ${cases} cases`));
	return () => {
		cases++;
	};
}

/** Runs `fn`; it must succeed or throw one of `types`, and not take longer than `ms` (no hang). */
export async function endsTyped<T>(fn: () => T | Promise<T>, types: (abstract new (...args: never[]) => Error)[], what: string, ms = 2000): Promise<T | Error> {
	const started = performance.now();
	let outcome: T | Error;
	try {
		outcome = await fn();
	} catch (error) {
		assert.ok(types.some((t) => error instanceof t), `${what}: escaped ${String((error as Error)?.stack ?? error)}`);
		outcome = error as Error;
	}
	assert.ok(performance.now() - started < ms, `${what}: took ${Math.round(performance.now() - started)} ms`);
	return outcome;
}
