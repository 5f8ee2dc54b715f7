import { readdir } from "node:fs/promises";
import { JSON_LIMITS, jsonFileLimit, readTextCapped } from "../util/read-json-capped.js";
import { join } from "node:path";
import type { CheckpointProblem } from "./problem.js";

/** Any one of these lets transformers' AutoTokenizer load a tokenizer. */
const TOKENIZER_SETS = [["tokenizer.json"], ["tokenizer.model"], ["vocab.json", "merges.txt"]];
/** Side files that must parse when present: a half-copied one breaks loading. */
const JSON_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json"];

/** A tokenizer is there, and the JSON side files present are whole JSON. */
export async function checkTokenizerFiles(dir: string): Promise<CheckpointProblem[]> {
	const names = new Set(await readdir(dir));
	const problems: CheckpointProblem[] = [];
	if (!TOKENIZER_SETS.some((set) => set.every((n) => names.has(n)))) {
		problems.push({ file: ".", message: `has no tokenizer (${TOKENIZER_SETS.map((s) => s.join(" + ")).join(", or ")}); copy the base model's tokenizer files` });
	}
	for (const name of JSON_FILES) {
		if (!names.has(name)) continue;
		try {
			JSON.parse(await readTextCapped(join(dir, name), jsonFileLimit(name) ?? JSON_LIMITS.tokenizerConfig, name));
		} catch (error) {
			problems.push({ file: name, message: `is not valid JSON (${(error as Error).message})` });
		}
	}
	return problems;
}
