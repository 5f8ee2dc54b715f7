/**
 * GGUF benchmark, in one run on the same disk:
 * 1. the merge of `--experts` generated dense bf16 models (random gates) without and with `--gguf f16`
 *    (alternated, `--rounds` each): wall time, peak RSS, and the ratio (the bound: 1.3x);
 * 2. `moe-merge gguf` of that merged output for each `--types`, against dd oflag=direct writing the
 *    same number of bytes just after (the bound: 0.9x of dd).
 *
 *   npm run bench:gguf -- --shape small [--experts 4] [--distinct 1] [--types f16,q8_0] [--rounds 1] [--dir /tmp/moe-merge-bench]
 */
import { execFileSync } from "node:child_process";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CLI, SHAPES, addTokenizer, ddWriteSpeed, ensureModels, median, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "small" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		experts: { type: "string", default: "4" },
		// Distinct generated models; the other experts are folders of symlinks to them (disk space).
		distinct: { type: "string", default: "1" },
		types: { type: "string", default: "f16,q8_0" },
		rounds: { type: "string", default: "1" },
	},
});

const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const root = resolve(values.dir as string, values.shape as string);

function fresh(path: string): Promise<void> {
	return rm(path, { recursive: true, force: true }).then(() => void execFileSync("sync"));
}

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const models = await ensureModels(root, shape, Number(values.experts), Number(values.distinct));
	for (const m of models.slice(0, Number(values.distinct))) addTokenizer(m);
	const recipe = join(root, "gguf-recipe.yml");
	await writeFile(recipe, [`base_model: ${models[0]}`, "gate_mode: random", "dtype: bfloat16", "experts:", ...models.map((m) => `  - source_model: ${m}`), ""].join("\n"));
	warmPageCache(models.slice(0, Number(values.distinct)));
	const load = () => loadavg().map((x) => +x.toFixed(2));

	const merges: Record<"plain" | "gguf", { wallSeconds: number; peakRssMB: number; bytes: number }[]> = { plain: [], gguf: [] };
	const out = join(root, "moe");
	for (let r = 0; r < Number(values.rounds); r++) {
		for (const kind of ["plain", "gguf"] as const) {
			await fresh(out);
			const run = timeCommand(process.execPath, [CLI, recipe, out, "--random-seed", "1", "--json", ...(kind === "gguf" ? ["--gguf", "f16"] : [])]);
			const result = JSON.parse(run.stdout) as { bytes: number; gguf?: { bytes: number }[] };
			const bytes = result.bytes + (result.gguf ?? []).reduce((s, g) => s + g.bytes, 0);
			merges[kind].push({ wallSeconds: run.wallSeconds, peakRssMB: run.peakRssMB, bytes });
			console.error(JSON.stringify({ merge: kind, ...merges[kind].at(-1), load: load() }));
		}
	}
	const merge = {
		plainSeconds: median(merges.plain.map((m) => m.wallSeconds)),
		ggufSeconds: median(merges.gguf.map((m) => m.wallSeconds)),
		plainPeakRssMB: Math.max(...merges.plain.map((m) => m.peakRssMB)),
		ggufPeakRssMB: Math.max(...merges.gguf.map((m) => m.peakRssMB)),
		plainBytes: merges.plain[0]!.bytes,
		ggufBytes: merges.gguf[0]!.bytes,
		ratio: 0,
	};
	merge.ratio = +(merge.ggufSeconds / merge.plainSeconds).toFixed(3);

	// `moe-merge gguf` of the merged output (the last merge wrote it with its GGUF file: removed first).
	await rm(join(out, "moe-F16.gguf"), { force: true });
	const converts = [];
	for (let r = 0; r < Number(values.rounds); r++) {
		for (const type of (values.types as string).split(",")) {
			const file = join(root, `bench-${type}.gguf`);
			await fresh(file);
			const run = timeCommand(process.execPath, [CLI, "gguf", out, "-o", file, "--type", type, "--json"]);
			const bytes = (await stat(file)).size;
			await fresh(file);
			const dd = ddWriteSpeed(root, bytes / 1e9, true);
			const gbps = bytes / 1e9 / run.wallSeconds;
			const result = { type, bytes, wallSeconds: run.wallSeconds, coreSeconds: run.coreSeconds, peakRssMB: run.peakRssMB, outputGBps: +gbps.toFixed(3), ddDirectGBps: +dd.toFixed(3), fractionOfDd: +(gbps / dd).toFixed(3), load: load() };
			console.error(JSON.stringify(result));
			converts.push(result);
		}
	}
	process.stdout.write(`${JSON.stringify({ shape: values.shape, experts: Number(values.experts), merge, convert: converts }, null, 2)}\n`);
}

main().catch((error) => {
	console.error(error);
	process.exit(1);
});
