/**
 * GGUF benchmark, in one run on the same disk:
 * 1. the merge of `--experts` generated dense bf16 models (random gates) without and with `--gguf <t>` for
 *    each `--merge-types` (alternated, `--rounds` each): wall and CPU time, peak RSS, the ratio of
 *    wall times (the bound for f16: 1.3x), and the time dd oflag=direct takes to write as many
 *    bytes as the merge wrote (shards and GGUF) against the merge's (fractionOfDisk: 1 is the disk's limit);
 * 2. `moe-merge gguf` of that merged output for each `--types`: "warm", its input in the page cache,
 *    against dd oflag=direct writing the same number of bytes just after (the bound: 0.9x of
 *    dd); and "cold", its input dropped from the cache first (read from the same disk it writes to),
 *    against the disk reading a shard while writing as much (two dd's at once).
 *
 *   npm run bench:gguf -- --shape small [--experts 4] [--distinct 1] [--types f16,q8_0] [--rounds 1] [--dir /tmp/moe-merge-bench]
 */
import { execFileSync } from "node:child_process";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CLI, SHAPES, addTokenizer, ddReadWhileWriting, ddWriteSpeed, dropFromPageCache, ensureModels, median, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "small" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		experts: { type: "string", default: "4" },
		// Distinct generated models; the other experts are folders of symlinks to them (disk space).
		distinct: { type: "string", default: "1" },
		types: { type: "string", default: "f16,q8_0" },
		/** The --gguf types the merge is timed with (each against the merge without). */
		"merge-types": { type: "string", default: "f16,bf16" },
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

	const kinds = ["plain", ...(values["merge-types"] as string).split(",")];
	const merges = new Map<string, { wallSeconds: number; coreSeconds: number; peakRssMB: number; bytes: number; heldMB: number }[]>(kinds.map((k) => [k, []]));
	const out = join(root, "moe");
	for (let r = 0; r < Number(values.rounds); r++) {
		for (const kind of kinds) {
			await fresh(out);
			const run = timeCommand(process.execPath, [CLI, recipe, out, "--random-seed", "1", "--json", ...(kind === "plain" ? [] : ["--gguf", kind])]);
			const result = JSON.parse(run.stdout) as { bytes: number; gguf?: { bytes: number; heldBytes?: number }[] };
			const bytes = result.bytes + (result.gguf ?? []).reduce((s, g) => s + g.bytes, 0);
			// Encoded GGUF bytes the merge held at once, waiting for their place in the file.
			const heldMB = Math.round(Math.max(0, ...(result.gguf ?? []).map((g) => g.heldBytes ?? 0)) / 1e6);
			merges.get(kind)!.push({ wallSeconds: run.wallSeconds, coreSeconds: run.coreSeconds, peakRssMB: run.peakRssMB, bytes, heldMB });
			console.error(JSON.stringify({ merge: kind, ...merges.get(kind)!.at(-1), load: load() }));
		}
	}
	const plainSeconds = median(merges.get("plain")!.map((m) => m.wallSeconds));
	const merge = kinds.map((kind) => {
		const runs = merges.get(kind)!;
		const wallSeconds = median(runs.map((m) => m.wallSeconds));
		return { gguf: kind === "plain" ? null : kind, wallSeconds, coreSeconds: median(runs.map((m) => m.coreSeconds)), peakRssMB: Math.max(...runs.map((m) => m.peakRssMB)), heldMB: Math.max(...runs.map((m) => m.heldMB)), bytes: runs[0]!.bytes, ratio: +(wallSeconds / plainSeconds).toFixed(3) };
	});
	// The disk's own time for each merge's bytes (shards and GGUF files): the least any merge can take.
	const ddMerge = ddWriteSpeed(root, Math.max(...merge.map((m) => m.bytes)) / 1e9, true);
	for (const m of merge) Object.assign(m, { ddDirectGBps: +ddMerge.toFixed(3), diskSeconds: +(m.bytes / 1e9 / ddMerge).toFixed(1), fractionOfDisk: +(m.bytes / 1e9 / ddMerge / m.wallSeconds).toFixed(3) });

	// `moe-merge gguf` of the merged output (the last merge wrote it with its GGUF file: removed first).
	for (const kind of kinds) await rm(join(out, `moe-${kind.toUpperCase()}.gguf`), { force: true });
	const converts = [];
	const shards = (await readdir(out)).filter((f) => f.endsWith(".safetensors")).map((f) => join(out, f));
	for (let r = 0; r < Number(values.rounds); r++) {
		for (const type of (values.types as string).split(",")) {
			for (const input of ["warm", "cold"] as const) {
				const file = join(root, `bench-${type}.gguf`);
				await fresh(file);
				if (input === "warm") warmPageCache([out]);
				else dropFromPageCache(shards);
				const run = timeCommand(process.execPath, [CLI, "gguf", out, "-o", file, "--type", type, "--json"]);
				const bytes = (await stat(file)).size;
				await fresh(file);
				const yardstick = input === "warm" ? { ddDirectGBps: ddWriteSpeed(root, bytes / 1e9, true) } : { ddReadWhileWritingGBps: ddReadWhileWriting(shards[0]!, root) };
				const dd = Object.values(yardstick)[0]!;
				const gbps = bytes / 1e9 / run.wallSeconds;
				const result = { type, input, bytes, wallSeconds: run.wallSeconds, coreSeconds: run.coreSeconds, peakRssMB: run.peakRssMB, outputGBps: +gbps.toFixed(3), ...Object.fromEntries(Object.entries(yardstick).map(([k, v]) => [k, +v.toFixed(3)])), fractionOfDd: +(gbps / dd).toFixed(3), load: load() };
				console.error(JSON.stringify(result));
				converts.push(result);
			}
		}
	}
	process.stdout.write(`${JSON.stringify({ shape: values.shape, experts: Number(values.experts), merge, convert: converts }, null, 2)}\n`);
}

main().catch((error) => {
	console.error(error);
	process.exit(1);
});
