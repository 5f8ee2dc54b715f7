import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { JSON_SIDE_FILES, TOKENIZER_SETS } from "../checkpoint/side-files.js";
import type { CheckpointProblem } from "./problem.js";

/** The tokenizer files looked for, and who needs them: said the same way by merge (a warning) and verify. */
export const NO_TOKENIZER = `no tokenizer (${TOKENIZER_SETS.map((s) => s.join(" + ")).join(", or ")})`;
export const TOKENIZER_USERS = "AutoTokenizer, vLLM, llama.cpp's converter and `moe-merge report` need one";

/** Whether a folder with these file names holds a tokenizer AutoTokenizer can load. */
export function hasTokenizer(names: Iterable<string>): boolean {
	const set = new Set(names);
	return TOKENIZER_SETS.some((files) => files.every((n) => set.has(n)));
}

/**
 * The JSON side files present are whole JSON (a problem otherwise). A checkpoint without a tokenizer is
 * whole, but not usable as it is: a warning (a merge of a base model without one warns the same way).
 */
export async function checkTokenizerFiles(dir: string): Promise<{ problems: CheckpointProblem[]; warnings: CheckpointProblem[] }> {
	const names = new Set(await readdir(dir));
	const problems: CheckpointProblem[] = [];
	const warnings: CheckpointProblem[] = [];
	if (!hasTokenizer(names)) warnings.push({ file: ".", message: `has ${NO_TOKENIZER}: ${TOKENIZER_USERS}; copy the base model's tokenizer files into it` });
	for (const name of JSON_SIDE_FILES) {
		if (!names.has(name)) continue;
		try {
			JSON.parse(await readFile(join(dir, name), "utf8"));
		} catch (error) {
			problems.push({ file: name, message: `is not valid JSON (${(error as Error).message})` });
		}
	}
	return { problems, warnings };
}
