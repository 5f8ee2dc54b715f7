/**
 * What the benchmarks share: dense bf16 models of real shapes (generated once; the 7B shape is one
 * model plus folders of symlinks to it, because five distinct 7B inputs and the output do not fit the
 * disk), the gate prompts, the disk's own write speed, and timing a command under /usr/bin/time.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { mkdir, readdir, rm, symlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type DenseModelShape, makeDenseModel } from "../src/demo/make-dense-model.js";

export const SHAPES: Record<string, DenseModelShape> = {
	/** A quick shape for a loaded machine: ~150M parameters (0.3 GB bf16), Llama-style. */
	small: { modelType: "llama", hiddenSize: 1024, numLayers: 8, numHeads: 16, numKvHeads: 4, intermediateSize: 2816, vocabSize: 32000 },
	tinyllama: { modelType: "llama", hiddenSize: 2048, numLayers: 22, numHeads: 32, numKvHeads: 4, intermediateSize: 5632, vocabSize: 32000 },
	mistral7b: { modelType: "mistral", hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, intermediateSize: 14336, vocabSize: 32000 },
	/** Mistral-7B's layers, 4 of them: a 4x7B merge's memory per layer (what is held is per layer) on ~15 GB of disk. */
	"mistral7b-4l": { modelType: "mistral", hiddenSize: 4096, numLayers: 4, numHeads: 32, numKvHeads: 8, intermediateSize: 14336, vocabSize: 32000 },
	/** Llama-2-70B's widths (plan figures only: header-only sparse files). */
	llama70b: { modelType: "llama", hiddenSize: 8192, numLayers: 80, numHeads: 64, numKvHeads: 8, intermediateSize: 28672, vocabSize: 32000 },
};

/** 4 experts x 3 prompts: 12 prompts, 235 tokens with the Mistral tokenizer. */
export const PROMPTS = [
	["def quicksort(items): pick a pivot, split the list, and sort both halves recursively", "Write a Python function that parses a CSV file into a list of dictionaries", "Fix the off-by-one error in this loop: for i in range(len(xs) + 1): print(xs[i])"],
	["Once upon a time, in a kingdom by the sea, there lived a girl who could talk to birds", "Write a short poem about autumn leaves falling on a quiet village road", "The dragon opened one golden eye and looked at the knight who had come to slay it"],
	["What is the derivative of x squared times the sine of x, step by step please", "Prove that there are infinitely many prime numbers using a short argument", "Solve for x: three x plus seven equals twenty five, and check the answer"],
	["Translate into French: the weather is lovely today and we are going to the beach", "How do you say thank you very much for your help in Japanese and in Korean", "Give me the Spanish words for the days of the week with their pronunciation"],
];

/** The repository root (benchmarks run from .bench-build/bench). */
export const REPO = resolve(import.meta.dirname ?? ".", "..", "..");
export const CLI = join(REPO, "dist", "cli", "main.js");

/** `distinct` generated models and `experts - distinct` folders of symlinks to them, under root/models. */
export async function ensureModels(root: string, shape: DenseModelShape, experts: number, distinct: number): Promise<string[]> {
	const dirs: string[] = [];
	for (let i = 0; i < distinct; i++) {
		const dir = join(root, "models", `m${i}`);
		if (!existsSync(join(dir, "config.json"))) {
			const t0 = performance.now();
			await rm(dir, { recursive: true, force: true });
			await makeDenseModel({ dir, shape, seed: 100 + i, dtype: "BF16", shardSize: 4_900_000_000, fill: "fast" });
			console.error(`generated ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
		}
		dirs.push(dir);
	}
	for (let i = distinct; i < experts; i++) {
		const dir = join(root, "models", `link${i}`);
		const src = dirs[i % distinct];
		if (!existsSync(join(dir, "config.json"))) {
			await mkdir(dir, { recursive: true });
			for (const f of await readdir(src)) await symlink(join(src, f), join(dir, f));
		}
		dirs.push(dir);
	}
	return dirs;
}

/** The Mistral tokenizer (vocab 32000, the demo's) fits the generated models. */
export function addTokenizer(modelDir: string): void {
	for (const f of readdirSync(join(REPO, "demo", "tokenizer"))) if (f.startsWith("tokenizer")) copyFileSync(join(REPO, "demo", "tokenizer", f), join(modelDir, f));
}

/** Reads every input once, like a second run of any tool would find them. */
export function warmPageCache(models: string[]): void {
	for (const m of models) execFileSync("sh", ["-c", `cat ${m}/*.safetensors > /dev/null`]);
	// Flush what generating the models left dirty, so no measured run pays for it.
	execFileSync("sync");
}

/** Sequential write speed of the disk by dd with fdatasync: through the page cache (the yardstick), or with O_DIRECT. */
export function ddWriteSpeed(dir: string, gigabytes: number, direct = false): number {
	const file = join(dir, "dd-probe.tmp");
	const count = Math.round((gigabytes * 1e9) / (16 << 20));
	const args = ["if=/dev/zero", `of=${file}`, "bs=16M", `count=${count}`, "conv=fdatasync", ...(direct ? ["oflag=direct"] : [])];
	const result = spawnSync("dd", args, { encoding: "utf8" });
	execFileSync("rm", ["-f", file]);
	const m = /(\d+) bytes.*copied, ([\d.]+) s/.exec(result.stderr);
	if (!m) throw new Error(`cannot read dd output: ${result.stderr}`);
	return Number(m[1]) / Number(m[2]) / 1e9;
}

/** Drops `files` from the page cache (GNU dd's nocache: posix_fadvise DONTNEED; no root needed), so the next read comes from the disk. */
export function dropFromPageCache(files: string[]): void {
	execFileSync("sync");
	for (const file of files) execFileSync("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"]);
}

/**
 * The disk reading `source` (O_DIRECT, not from the cache) while it writes as many bytes (O_DIRECT):
 * the two dd's at once, as a conversion of a file on the same disk does; bytes written per second
 * from the start until both are done.
 */
export function ddReadWhileWriting(source: string, dir: string): number {
	const file = join(dir, "dd-probe.tmp");
	const script = `s=$(date +%s.%N); dd if="$1" of=/dev/null bs=16M iflag=direct status=none & dd if=/dev/zero of="$2" bs=16M count=$3 oflag=direct conv=fdatasync status=none; wait; e=$(date +%s.%N); echo "$s $e"`;
	const bytes = Number(execFileSync("stat", ["-c", "%s", source], { encoding: "utf8" }));
	const count = Math.max(1, Math.round(bytes / (16 << 20)));
	const [start, end] = execFileSync("sh", ["-c", script, "sh", source, file, String(count)], { encoding: "utf8" }).trim().split(" ").map(Number);
	execFileSync("rm", ["-f", file]);
	return (count * (16 << 20)) / 1e9 / (end! - start!);
}

export interface TimedRun {
	wallSeconds: number;
	/** user + system CPU seconds of the process and its threads and children. */
	coreSeconds: number;
	peakRssMB: number;
	stdout: string;
}

/** Runs a command under /usr/bin/time; throws with its stderr when it fails. */
export function timeCommand(command: string, args: string[], env?: NodeJS.ProcessEnv): TimedRun {
	const run = spawnSync("/usr/bin/time", ["-f", "%M %e %U %S", command, ...args], { encoding: "utf8", maxBuffer: 1 << 26, env: env ?? process.env });
	if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${run.status}): ${run.stderr.slice(-4000)}`);
	const [rssKb, wall, user, sys] = run.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
	return { wallSeconds: +wall.toFixed(1), coreSeconds: +(user + sys).toFixed(1), peakRssMB: Math.round(rssKb / 1024), stdout: run.stdout };
}

export function median(xs: number[]): number {
	const sorted = [...xs].sort((a, b) => a - b);
	const mid = sorted.length / 2;
	return Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)];
}
