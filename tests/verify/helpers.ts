import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildSafetensors } from "../safetensors/helpers.js";
import { FIXTURES } from "../merge/helpers.js";

export { runCli, tempDir, writeRecipe, FIXTURES, type CliResult } from "../merge/helpers.js";

export const MODELS = join(FIXTURES, "models");

/** Names and shapes transformers 4.57 / 5.18 give tiny MoE models (tests/fixtures/moe-names/make.py). */
export interface ReferenceModels {
	transformers: string;
	models: Record<string, { config: Record<string, unknown>; tensors: Record<string, number[]> }>;
}

export async function referenceNames(version: 4 | 5): Promise<ReferenceModels> {
	return JSON.parse(await readFile(join(FIXTURES, "moe-names", `transformers-${version}.json`), "utf8"));
}

/**
 * A checkpoint folder holding exactly the given tensors (bf16 zeros unless `fill` says otherwise), the
 * config, and the llama-base fixture's tokenizer: what another tool (mergekit-moe, transformers) writes.
 */
export async function writeCheckpoint(dir: string, config: Record<string, unknown>, tensors: Record<string, number[]>, fill?: (name: string, data: Uint8Array) => void): Promise<string> {
	await mkdir(dir, { recursive: true });
	const raw = Object.entries(tensors).map(([name, shape]) => {
		const data = new Uint8Array(shape.reduce((a, b) => a * b, 1) * 2);
		fill?.(name, data);
		return { name, dtype: "BF16", shape, data };
	});
	await writeFile(join(dir, "model.safetensors"), buildSafetensors(raw, { format: "pt" }));
	await writeFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
	for (const name of ["tokenizer.json", "tokenizer_config.json"]) await copyFile(join(MODELS, "llama-base", name), join(dir, name));
	return dir;
}
