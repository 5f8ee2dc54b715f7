/**
 * Merge benchmark: generates dense bf16 models of a real shape (TinyLlama-1.1B or Mistral-7B), merges
 * 4 experts with random gates through the CLI, and reports wall time, output GB/s and peak RSS next to
 * the raw sequential write speed of the same disk (dd with fdatasync), measured in the same run.
 *
 *   npm run bench:merge -- --shape tinyllama [--dir /tmp/moe-merge-bench] [--rounds 3]
 *   npm run bench:merge -- --shape mistral7b
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freeBytes } from "../src/output/output-target.js";
import { CLI, SHAPES, ddWriteSpeed, ensureModels, median, warmPageCache } from "./bench-inputs.js";

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

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const models = await ensureModels(root, shape, experts, distinct);
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
	warmPageCache(models.slice(0, distinct));
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
		const run = spawnSync("/usr/bin/time", ["-f", "%M %e", process.execPath, CLI, recipe, out, "--json", "--random-seed", "1"], { encoding: "utf8", maxBuffer: 1 << 26 });
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
			wallSeconds: +median(runs.map((r) => r.wallSeconds)).toFixed(3),
			outputGBps: +median(runs.map((r) => r.outputGBps)).toFixed(3),
			ddGBps: +median(dd).toFixed(3),
			ddDirectGBps: +median(ddDirect).toFixed(3),
			fractionOfDd: +median(runs.map((r) => r.fractionOfDd)).toFixed(3),
			fractionOfDdDirect: +median(runs.map((r) => r.fractionOfDdDirect)).toFixed(3),
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
