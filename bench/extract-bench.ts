/**
 * Extract benchmark: merges 4 experts of a real shape (TinyLlama-1.1B or Mistral-7B; generated once,
 * the experts symlinks to one model) into a Mixtral with random gates, then extracts expert 1 through
 * the CLI, and reports wall time, output GB/s and peak RSS beside dd's sequential write speed of the
 * same disk, measured before and after each run.
 *
 *   npm run bench:extract -- --shape tinyllama [--dir /tmp/moe-merge-extract-bench] [--rounds 3] [--layout fused]
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CLI, SHAPES, ddWriteSpeed, ensureModels, median, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "tinyllama" },
		dir: { type: "string", default: "/tmp/moe-merge-extract-bench" },
		rounds: { type: "string", default: "3" },
		layout: { type: "string", default: "per-expert" },
		"dd-gb": { type: "string", default: "2" },
	},
});

const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const root = resolve(values.dir as string, values.shape as string);

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const models = await ensureModels(root, shape, 4, 1);
	const moe = join(root, `moe-${values.layout}`);
	if (!existsSync(join(moe, "config.json"))) {
		const recipe = join(root, "recipe.yml");
		await writeFile(recipe, [`base_model: ${models[0]}`, "gate_mode: random", "dtype: bfloat16", "experts:", ...models.map((m) => `  - source_model: ${m}`), ""].join("\n"));
		timeCommand(process.execPath, [CLI, recipe, moe, "--quiet", "--random-seed", "1", "--layout", values.layout as string, "--i-understand-this-is-not-useful-without-training"]);
	}
	warmPageCache([moe]);
	const out = join(root, "expert");
	const dd = [ddWriteSpeed(root, Number(values["dd-gb"]))];
	const runs: { wallSeconds: number; coreSeconds: number; outputGBps: number; peakRssMB: number; fractionOfDd: number }[] = [];
	let bytes = 0;
	for (let r = 0; r < Number(values.rounds); r++) {
		await rm(out, { recursive: true, force: true });
		execFileSync("sync");
		const run = timeCommand(process.execPath, [CLI, "extract", moe, "--expert", "1", "-o", out, "--json"]);
		bytes = JSON.parse(run.stdout).bytes;
		dd.push(ddWriteSpeed(root, Number(values["dd-gb"])));
		const gbps = bytes / 1e9 / run.wallSeconds;
		runs.push({ wallSeconds: run.wallSeconds, coreSeconds: run.coreSeconds, outputGBps: +gbps.toFixed(3), peakRssMB: run.peakRssMB, fractionOfDd: +(gbps / ((dd[r] + dd[r + 1]) / 2)).toFixed(3) });
		console.error(`round ${r + 1}: ${JSON.stringify(runs[r])}`);
	}
	await rm(out, { recursive: true, force: true });
	const report = {
		shape: values.shape,
		layout: values.layout,
		outputGB: +(bytes / 1e9).toFixed(2),
		runs,
		ddGBps: dd.map((x) => +x.toFixed(3)),
		median: {
			wallSeconds: median(runs.map((r) => r.wallSeconds)),
			outputGBps: median(runs.map((r) => r.outputGBps)),
			fractionOfDd: median(runs.map((r) => r.fractionOfDd)),
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
