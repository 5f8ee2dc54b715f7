import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type DenseModelShape, makeDenseModel } from "../../src/demo/make-dense-model.js";
import { RESUME_RECORD_NAME, type ResumeRecord } from "../../src/resume/resume-record.js";
import { CLI, type CliResult, FIXTURES } from "../merge/helpers.js";

/** Small enough to merge in well under a second, big enough for 6 shards of 300 KB and a real forward pass (the fixture tokenizer's 32 000 tokens). */
const SHAPE: DenseModelShape = { modelType: "llama", hiddenSize: 64, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 384, vocabSize: 32000, tieWordEmbeddings: true };

/** A base and two experts in `dir`, with the fixture tokenizer so hidden-state gates can run. */
export async function makeModels(dir: string): Promise<{ base: string; a: string; b: string }> {
	const models = { base: join(dir, "base"), a: join(dir, "a"), b: join(dir, "b") };
	for (const [i, path] of Object.values(models).entries()) {
		await makeDenseModel({ dir: path, shape: SHAPE, seed: i + 1 });
		for (const name of ["tokenizer.json", "tokenizer_config.json"]) await copyFile(join(FIXTURES, "models", "llama-base", name), join(path, name));
	}
	return models;
}

/** The compiled CLI as a child process we can kill. */
export function startCli(args: string[], cwd: string): { child: ChildProcess; done: Promise<CliResult> } {
	const child = spawn(process.execPath, [CLI, ...args], { cwd });
	let stdout = "";
	let stderr = "";
	child.stdout!.on("data", (d) => (stdout += d));
	child.stderr!.on("data", (d) => (stderr += d));
	const done = new Promise<CliResult>((resolve, reject) => {
		child.on("error", reject);
		child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
	});
	return { child, done };
}

/** The resume record of a running merge's staging folder, if written yet. */
export async function recordOf(outputDir: string, pid: number): Promise<ResumeRecord | undefined> {
	const dir = join(outputDir, "..", `.${outputDir.split("/").at(-1)}.moe-merge-partial-${pid}`);
	return readFile(join(dir, RESUME_RECORD_NAME), "utf8").then((t) => JSON.parse(t) as ResumeRecord, () => undefined);
}

/** Resolves once the merge has recorded `shards` complete shards (or has ended). */
export async function whenShardsComplete(outputDir: string, child: ChildProcess, shards: number): Promise<void> {
	while (child.exitCode === null && child.signalCode === null) {
		const record = await recordOf(outputDir, child.pid!);
		if (record && record.complete.length >= shards) return;
		await sleep(5);
	}
}

/** name -> sha256 of every file of a folder. */
export async function folderHashes(dir: string): Promise<Record<string, string>> {
	const hashes: Record<string, string> = {};
	for (const name of (await readdir(dir)).sort()) hashes[name] = createHash("sha256").update(await readFile(join(dir, name))).digest("hex");
	return hashes;
}

/** The staging (and replaced-output) folders beside an output. */
export async function leftovers(parent: string): Promise<string[]> {
	return (await readdir(parent)).filter((n) => n.includes(".moe-merge-"));
}
