import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (tests run from .test-build/tests/merge). */
export const ROOT = resolve(here, "..", "..", "..");
export const FIXTURES = join(ROOT, "tests", "fixtures");
export const DENSE = join(FIXTURES, "dense");
/** The compiled CLI of this test build, so tests do not depend on `npm run build`. */
export const CLI = resolve(here, "..", "..", "src", "cli", "main.js");

export interface CliResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; shellPrefix?: string } = {}): Promise<CliResult> {
	return new Promise((resolvePromise, reject) => {
		const child = options.shellPrefix
			? spawn("sh", ["-c", `${options.shellPrefix}; exec "$@"`, "sh", process.execPath, CLI, ...args], { cwd: options.cwd, env: options.env })
			: spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: options.env });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		child.on("error", reject);
		child.on("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
	});
}

/** A temporary folder removed when the test file ends. */
export async function tempDir(prefix = "moe-merge-test-"): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), prefix));
	after(() => rm(dir, { recursive: true, force: true }));
	return dir;
}

export interface RecipeExpert {
	model: string;
	prompts?: string[];
	extra?: string;
}

/** Writes a recipe (absolute model paths) and returns its path. */
export async function writeRecipe(dir: string, options: { base: string; experts: RecipeExpert[]; gateMode?: string; dtype?: string; extra?: string; name?: string }): Promise<string> {
	const lines = [`base_model: ${options.base}`, `gate_mode: ${options.gateMode ?? "random"}`];
	if (options.dtype) lines.push(`dtype: ${options.dtype}`);
	if (options.extra) lines.push(options.extra);
	lines.push("experts:");
	options.experts.forEach((e, i) => {
		lines.push(`  - source_model: ${e.model}`);
		lines.push(`    positive_prompts: ${JSON.stringify(e.prompts ?? [`prompt for expert ${i}`])}`);
		if (e.extra) lines.push(`    ${e.extra}`);
	});
	const file = join(dir, options.name ?? "recipe.yml");
	await writeFile(file, `${lines.join("\n")}\n`);
	return file;
}

/** The three models of a fixture case, e.g. dense/llama-rope-llama3/{base,expert-a,expert-b}. */
export function caseModels(name: string): { base: string; a: string; b: string } {
	return { base: join(DENSE, name, "base"), a: join(DENSE, name, "expert-a"), b: join(DENSE, name, "expert-b") };
}

/** A port on 127.0.0.1 that nothing listens on: connections are refused, as without a network. */
export async function closedPort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
	const { port } = server.address() as { port: number };
	await new Promise((done) => server.close(done));
	return port;
}
