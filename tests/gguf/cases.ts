/**
 * The tiny models the GGUF tests convert and run in llama.cpp, built in a folder: dense Llama (Mistral
 * tokenizer), Qwen2 and Qwen3 (Qwen tokenizer, full 151 669-token vocabulary so llama.cpp's pre-tokenizer
 * check holds), and merges of them made with the CLI (fixed seeds, so the bytes are always the same):
 * Mixtral, Qwen MoE (shared expert), Qwen3 MoE, DeepSeek MoE, each with `--gguf f32 --gguf q8_0`
 * (the GGUF files written from the merge's own stream). tests/fixtures/gguf/make-reference.sh
 * builds the same folders to record transformers' logits and greedy tokens for them.
 *
 *   node .test-build/tests/gguf/cases.js <folder>     builds every case into <folder>/<case>
 */
import { spawnSync } from "node:child_process";
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "./helpers.js";

const FIXTURES = join(REPO_ROOT, "tests/fixtures");
const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** The GGUF types every merged case is written with by the merge itself (`<case>/<case>-<TYPE>.gguf`). */
export const MERGE_GGUF = ["f32", "q8_0"] as const;

export interface GgufCase {
	name: string;
	dir: string;
	/** transformers can run it (not DeepSeek's remote code), so the fixtures hold its logits. */
	reference: boolean;
	/** Made by a merge, which wrote the MERGE_GGUF files. */
	merged?: boolean;
}

/** Prompts whose next-token logits and greedy continuation are compared. */
export const GGUF_PROMPTS = ["The quick brown fox jumps over the lazy dog.", "def fibonacci(n):\n    if n < 2:\n        return n"];

async function denseFolder(root: string, name: string, model: string, tokenizer: string): Promise<string> {
	const dir = join(root, name);
	await mkdir(dir, { recursive: true });
	await cp(model, dir, { recursive: true });
	for (const file of ["tokenizer.json", "tokenizer_config.json"]) await cp(join(tokenizer, file), join(dir, file));
	return dir;
}


export async function buildGgufCases(root: string): Promise<GgufCase[]> {
	const llama = await denseFolder(root, "llama", join(FIXTURES, "models/llama-base"), join(FIXTURES, "models/llama-base"));
	const qwen2 = await denseFolder(root, "qwen2", join(FIXTURES, "gguf/qwen2"), join(FIXTURES, "tokenizers/qwen3"));
	const qwen3 = await denseFolder(root, "qwen3", join(FIXTURES, "gguf/qwen3"), join(FIXTURES, "tokenizers/qwen3"));
	const a = join(FIXTURES, "models/llama-expert-a");
	const b = join(FIXTURES, "models/llama-expert-b");
	const merges: [string, string[]][] = [
		["mixtral", [`base_model: ${llama}`, "gate_mode: random", "experts_per_token: 2", "experts:", `  - source_model: ${a}`, `  - source_model: ${b}`, `  - source_model: ${llama}`, `  - source_model: ${a}`, "    noise_scale: 0.05"]],
		["qwen2moe", [`base_model: ${qwen2}`, "architecture: qwen", "gate_mode: random", "experts_per_token: 2", "experts:", `  - source_model: ${qwen2}`, "    noise_scale: 0.05", `  - source_model: ${qwen2}`, "    noise_scale: 0.1", "shared_experts:", `  - source_model: ${qwen2}`, "    noise_scale: 0.02"]],
		["qwen3moe", [`base_model: ${qwen3}`, "gate_mode: random", "experts_per_token: 2", "experts:", `  - source_model: ${qwen3}`, "    noise_scale: 0.05", `  - source_model: ${qwen3}`, "    noise_scale: 0.1", `  - source_model: ${qwen3}`, "    noise_scale: 0.2", `  - source_model: ${qwen3}`]],
		["deepseek", [`base_model: ${llama}`, "architecture: deepseek", "gate_mode: random", "experts_per_token: 2", "experts:", `  - source_model: ${a}`, `  - source_model: ${b}`, "shared_experts:", `  - source_model: ${llama}`]],
	];
	const cases: GgufCase[] = [
		{ name: "llama", dir: llama, reference: true },
		{ name: "qwen2", dir: qwen2, reference: true },
		{ name: "qwen3", dir: qwen3, reference: true },
	];
	for (const [name, recipe] of merges) {
		const file = join(root, `${name}.yml`);
		await writeFile(file, `${recipe.join("\n")}\n`);
		const out = join(root, name);
		const run = spawnSync(process.execPath, [CLI, file, out, "--random-seed", "19", "--i-understand-this-is-not-useful-without-training", ...MERGE_GGUF.flatMap((t) => ["--gguf", t])], { encoding: "utf8" });
		if (run.status !== 0) throw new Error(`merge of ${name} failed: ${run.stderr}`);
		cases.push({ name, dir: out, reference: name !== "deepseek", merged: true });
	}
	return cases;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const cases = await buildGgufCases(resolve(process.argv[2]!));
	process.stdout.write(`${JSON.stringify(cases)}\n`);
}
