/**
 * Merge benchmark: generates dense bf16 models of a real shape (TinyLlama-1.1B or Mistral-7B), merges
 * 4 experts with random gates through the CLI, and reports wall time, output GB/s and peak RSS next to
 * the raw sequential write speed of the same disk (dd with fdatasync), measured in the same run.
 *
 *   npm run bench:merge -- --shape tinyllama [--dir /tmp/moe-merge-bench] [--rounds 3]
 *   npm run bench:merge -- --shape mistral7b
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type DenseModelShape, makeDenseModel } from "../src/demo/make-dense-model.js";
import { freeBytes } from "../src/output/staging-dir.js";

const SHAPES: Record<string, DenseModelShape> = {
	tinyllama: { modelType: "llama", hiddenSize: 2048, numLayers: 22, numHeads: 32, numKvHeads: 4, intermediateSize: 5632, vocabSize: 32000 },
	mistral7b: { modelType: "mistral", hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, intermediateSize: 14336, vocabSize: 32000 },
};

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "tinyllama" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		experts: { type: "string", default: "4" },
		// Distinct generated models; the other experts are folders of symlinks to them (disk space).
		distinct: { type: "string" },
		rounds: { type: "string", default: "3" },
		"dd-gb": { type: "string", default: "4" },
	},
});

const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const experts = Number(values.experts);
const distinct = Number(values.distinct ?? (values.shape === "mistral7b" ? 1 : experts));
const root = resolve(values.dir as string, values.shape as string);
const cli = resolve(import.meta.dirname ?? ".", "..", "..", "dist", "cli", "main.js");

async function ensureModels(): Promise<string[]> {
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

/** Sequential write speed of the disk by dd with fdatasync: through the page cache (the yardstick), or with O_DIRECT. */
function ddWriteSpeed(dir: string, gigabytes: number, direct = false): number {
	const file = join(dir, "dd-probe.tmp");
	const count = Math.round((gigabytes * 1e9) / (16 << 20));
	const args = ["if=/dev/zero", `of=${file}`, "bs=16M", `count=${count}`, "conv=fdatasync", ...(direct ? ["oflag=direct"] : [])];
	const result = spawnSync("dd", args, { encoding: "utf8" });
	execFileSync("rm", ["-f", file]);
	const m = /(\d+) bytes.*copied, ([\d.]+) s/.exec(result.stderr);
	if (!m) throw new Error(`cannot read dd output: ${result.stderr}`);
	return Number(m[1]) / Number(m[2]) / 1e9;
}

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const models = await ensureModels();
	const recipe = join(root, "recipe.yml");
	await writeFile(
		recipe,
		[
			`base_model: ${models[0]}`,
			"gate_mode: random",
			"dtype: bfloat16",
			"experts:",
			...models.map((m, i) => `  - source_model: ${m}\n    positive_prompts: ["prompt ${i}"]`),
			"",
		].join("\n"),
	);
	const out = join(root, "out");
	console.error(`free space: ${((await freeBytes(root)) ?? 0) / 1e9} GB`);
	// Warm the page cache with the inputs once, like a second run of any tool would have it.
	for (const m of models.slice(0, distinct)) execFileSync("sh", ["-c", `cat ${m}/*.safetensors > /dev/null`]);
	// Flush what generating the models left dirty, so neither dd nor the merge pays for it.
	execFileSync("sync");
	// The disk's speed drifts (cloud volumes), so dd and the merge alternate and each merge is
	// compared with the dd runs just before and after it.
	const rounds = Number(values.rounds);
	const dd: number[] = [ddWriteSpeed(root, Number(values["dd-gb"]))];
	const ddDirect: number[] = [ddWriteSpeed(root, Number(values["dd-gb"]), true)];
	const runs: { wallSeconds: number; outputGBps: number; peakRssMB: number; fractionOfDd: number; fractionOfDdDirect: number }[] = [];
	let summary: { bytes: number; shards: string[] } = { bytes: 0, shards: [] };
	for (let r = 0; r < rounds; r++) {
		await rm(out, { recursive: true, force: true });
		execFileSync("sync");
		const run = spawnSync("/usr/bin/time", ["-f", "%M %e", process.execPath, cli, recipe, out, "--json", "--random-seed", "1"], { encoding: "utf8", maxBuffer: 1 << 26 });
		if (run.status !== 0) throw new Error(`merge failed: ${run.stderr}`);
		const [rssKb, wall] = run.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
		summary = JSON.parse(run.stdout);
		await rm(out, { recursive: true, force: true });
		execFileSync("sync");
		dd.push(ddWriteSpeed(root, Number(values["dd-gb"])));
		ddDirect.push(ddWriteSpeed(root, Number(values["dd-gb"]), true));
		const gbps = summary.bytes / 1e9 / wall;
		runs.push({
			wallSeconds: +wall.toFixed(1),
			outputGBps: +gbps.toFixed(3),
			peakRssMB: Math.round(rssKb / 1024),
			fractionOfDd: +(gbps / ((dd[r] + dd[r + 1]) / 2)).toFixed(3),
			fractionOfDdDirect: +(gbps / ((ddDirect[r] + ddDirect[r + 1]) / 2)).toFixed(3),
		});
		console.error(`round ${r + 1}: ${JSON.stringify(runs[r])}, dd ${dd[r].toFixed(3)} / ${dd[r + 1].toFixed(3)} GB/s, dd O_DIRECT ${ddDirect[r].toFixed(3)} / ${ddDirect[r + 1].toFixed(3)} GB/s`);
	}
	const median = (xs: number[]) => {
		const sorted = [...xs].sort((a, b) => a - b);
		const mid = sorted.length / 2;
		return +(Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)]).toFixed(3);
	};
	const report = {
		shape: values.shape,
		experts,
		distinctInputModels: distinct,
		outputGB: +(summary.bytes / 1e9).toFixed(2),
		shards: summary.shards.length,
		runs,
		ddGBps: dd.map((x) => +x.toFixed(3)),
		ddDirectGBps: ddDirect.map((x) => +x.toFixed(3)),
		median: {
			wallSeconds: median(runs.map((r) => r.wallSeconds)),
			outputGBps: median(runs.map((r) => r.outputGBps)),
			ddGBps: +median(dd).toFixed(3),
			ddDirectGBps: +median(ddDirect).toFixed(3),
			fractionOfDd: median(runs.map((r) => r.fractionOfDd)),
			fractionOfDdDirect: median(runs.map((r) => r.fractionOfDdDirect)),
			peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)),
		},
		node: process.version,
	};
	console.log(JSON.stringify(report, null, 2));
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
