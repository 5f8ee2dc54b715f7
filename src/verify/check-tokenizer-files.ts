import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { JSON_SIDE_FILES, TOKENIZER_SETS } from "../checkpoint/side-files.js";
import type { CheckpointProblem } from "./problem.js";

/** A tokenizer is there, and the JSON side files present are whole JSON. */
export async function checkTokenizerFiles(dir: string): Promise<CheckpointProblem[]> {
	const names = new Set(await readdir(dir));
	const problems: CheckpointProblem[] = [];
	if (!TOKENIZER_SETS.some((set) => set.every((n) => names.has(n)))) {
		problems.push({ file: ".", message: `has no tokenizer (${TOKENIZER_SETS.map((s) => s.join(" + ")).join(", or ")}); copy the base model's tokenizer files` });
	}
	for (const name of JSON_SIDE_FILES) {
		if (!names.has(name)) continue;
		try {
			JSON.parse(await readFile(join(dir, name), "utf8"));
		} catch (error) {
			problems.push({ file: name, message: `is not valid JSON (${(error as Error).message})` });
		}
	}
	return problems;
}
