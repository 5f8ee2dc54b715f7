/**
 * A merge streamed from the Hub to the Hub (`--no-local-copy`) against the same merge with a local copy
 * (inputs downloaded into the cache, output written, then pushed), both against the test Hub server on
 * 127.0.0.1 (tests/hub/hub-server.ts, range requests and uploads), run by the CLI under /usr/bin/time:
 * wall time, peak RSS of the merge process, and peak disk of cache + work/output folders (sampled every
 * 100 ms). Then the plan figures of an 8x7B-shape merge (`plan --no-local-copy`), computed on
 * header-only sparse models (no weights are generated).
 *
 * The server keeps the inputs and the uploads in files (the generated models, a spool folder), not in
 * memory, so the issue's full size fits the machine.
 *
 *   npm run bench:stream   [STREAM_LAYERS=4 STREAM_SHARD=300M STREAM_GATES=hidden STREAM_RUNS=local,streamed
 *                           STREAM_PLAN=1 STREAM_DIR=<folder for the streamed run's cache and TMPDIR, e.g. on a 3 GB filesystem>]
 *
 * The issue's figure: STREAM_LAYERS=22 STREAM_SHARD=1G STREAM_DIR=/mnt/moe3g (docs/performance.md shows
 * how that 3 GB filesystem is made); the local run's cache and output stay under TMPDIR (they need ~18 GB).
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, statfs, symlink, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { denseConfigJson, denseTensorSpecs, makeDenseModel } from "../src/demo/make-dense-model.js";
import { encodeIndex, encodeShardHeader, planShards } from "../src/safetensors/index.js";
import { HubServer } from "../tests/hub/hub-server.js";
import { type StoredFile, diskFile, storedFile } from "../tests/hub/hub-store.js";
import { sha256File } from "../src/util/sha256.js";
import { CLI, PROMPTS, SHAPES, addTokenizer } from "./bench-inputs.js";

const TOKEN = "hf_benchToken0123456789abcdef0123";
const layers = Number(process.env.STREAM_LAYERS ?? 4);
const shardSize = process.env.STREAM_SHARD ?? "300M";
/** Which runs: "local,streamed" (default), one of them, or none; STREAM_PLAN=0 skips the plan figures (of STREAM_PLAN_SHAPES, default mistral7b,llama70b). */
const runs = (process.env.STREAM_RUNS ?? "local,streamed").split(",");
/** Where the streamed run's cache and TMPDIR go (a small filesystem makes the disk bound visible); default under TMPDIR. */
const streamDir = process.env.STREAM_DIR;
const root = await mkdtemp(join(tmpdir(), "moe-stream-bench-"));

try {
	console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
	if (runs.includes("local") || runs.includes("streamed")) await smallShape();
	if (process.env.STREAM_PLAN !== "0") for (const shape of (process.env.STREAM_PLAN_SHAPES ?? "mistral7b,llama70b").split(",")) await planFigures(shape);
	console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
} finally {
	await rm(root, { recursive: true, force: true });
}

/** 4 experts of TinyLlama's widths (STREAM_LAYERS layers; two distinct models, each served twice), hidden gates. */
async function smallShape(): Promise<void> {
	const shape = { ...SHAPES.tinyllama, numLayers: layers };
	const spool = join(root, "spool");
	await mkdir(spool, { recursive: true });
	const hub = await HubServer.start({ [TOKEN]: { user: "bench" } }, { spoolDir: spool });
	try {
		const models: Map<string, StoredFile>[] = [];
		for (let i = 0; i < 2; i++) {
			const dir = join(root, "models", `m${i}`);
			await makeDenseModel({ dir, shape, seed: 100 + i, dtype: "BF16", fill: "fast" });
			addTokenizer(dir);
			const files = new Map<string, StoredFile>();
			for (const name of await readdir(dir)) {
				const path = join(dir, name);
				const size = (await stat(path)).size;
				// The weights are served from their files; the small files from memory.
				files.set(name, name.endsWith(".safetensors") ? diskFile({ path, size }, await sha256File(path)) : storedFile(name, await readFile(path)));
			}
			models.push(files);
		}
		// One StoredFile per content: repos share the bytes (the server keeps them in memory).
		const repos = ["bench/base", "bench/e0", "bench/e1", "bench/e2", "bench/e3"];
		repos.forEach((id, i) => {
			hub.store.createRepo(id);
			hub.store.commit(id, Object.fromEntries(models[i === 0 ? 0 : (i - 1) % 2]));
		});
		const inputBytes = [...models[0].values()].reduce((s, f) => s + f.size, 0);
		const recipe = join(root, "recipe.yml");
		const experts = [0, 1, 2, 3].map((e) => `  - source_model: bench/e${e}\n    positive_prompts: ${JSON.stringify(PROMPTS[e])}`);
		await writeFile(recipe, `base_model: bench/base\ngate_mode: ${process.env.STREAM_GATES ?? "hidden"}\ndtype: bfloat16\nexperts:\n${experts.join("\n")}\n`);
		console.log(`\n4x TinyLlama-width (${layers} layers), hidden gates, shards of ${shardSize}; each input ${(inputBytes / 1e9).toFixed(2)} GB`);
		const common = ["--random-seed", "1", "--out-shard-size", shardSize, "--json", "--threads", "2"];
		const local = runs.includes("local") ? await measure(hub, "local copy", [recipe, join(root, "out"), "--push-to-hub", "bench/local", ...common]) : undefined;
		const streamed = runs.includes("streamed") ? await measure(hub, "streamed", [recipe, "--push-to-hub", "bench/streamed", "--no-local-copy", ...common], streamDir) : undefined;
		if (!local || !streamed) return;
		const same = [...hub.store.tree("bench/local")].filter(([n]) => n.endsWith(".safetensors")).every(([n, f]) => hub.store.tree("bench/streamed").get(n)?.sha256 === f.sha256);
		console.log(`uploaded shards sha256-equal: ${same}; time streamed / local: ${(streamed.wall / local.wall).toFixed(2)}`);
	} finally {
		await hub.close();
	}
}

/** Runs the CLI under /usr/bin/time with a fresh cache and work folder, sampling their size on disk. */
async function measure(hub: HubServer, label: string, args: string[], under = root): Promise<{ wall: number }> {
	const home = await mkdtemp(join(under, "home-"));
	const work = await mkdtemp(join(under, "work-"));
	const fs = await statfs(under);
	console.log(`${label}: load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}; cache and TMPDIR under ${under} (filesystem of ${((fs.blocks * fs.bsize) / 1e9).toFixed(2)} GB, ${((fs.bavail * fs.bsize) / 1e9).toFixed(2)} GB free)`);
	const out = args[1].startsWith("/") ? args[1] : undefined;
	const env = { PATH: process.env.PATH, HF_ENDPOINT: hub.url, HF_HOME: home, HF_TOKEN: TOKEN, TMPDIR: work, ...(process.env.NODE_OPTIONS && { NODE_OPTIONS: process.env.NODE_OPTIONS, MEMTRACE_FILE: process.env.MEMTRACE_FILE }) };
	// Sampled by an asynchronous du, so the server in this process keeps answering meanwhile.
	let peak = 0;
	let sampling = true;
	const sampler = (async () => {
		while (sampling) {
			const paths = [home, work, ...(out ? [out] : [])];
			const used = await new Promise<number>((resolve) =>
				execFile("du", ["-sc", "--block-size=1", ...paths], (_, stdout) => resolve(Number(stdout.trim().split("\n").at(-1)?.split("\t")[0] ?? 0) || 0)),
			);
			peak = Math.max(peak, used);
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
	})();
	const served = hub.bytesServed;
	const { stderr, code } = await new Promise<{ stderr: string; code: number | null }>((resolve) => {
		const child = spawn("/usr/bin/time", ["-f", "%M %e %U %S", process.execPath, CLI, ...args], { env });
		let err = "";
		child.stdout.resume();
		child.stderr.on("data", (d) => (err += d));
		child.on("close", (c) => resolve({ stderr: err, code: c }));
	});
	sampling = false;
	await sampler;
	if (code !== 0) throw new Error(`${label} failed: ${stderr.slice(-3000)}`);
	const [rssKb, wall, user, sys] = stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
	console.log(`${label}: load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
	console.log(`${label}: ${wall.toFixed(1)} s wall, ${(user + sys).toFixed(1)} core-s, peak RSS ${Math.round(rssKb / 1024)} MB, peak disk (cache + work${out ? " + output" : ""}) ${(peak / 1e9).toFixed(2)} GB, read from the Hub ${((hub.bytesServed - served) / 1e9).toFixed(2)} GB`);
	if (out) await rm(out, { recursive: true, force: true });
	await rm(home, { recursive: true, force: true });
	await rm(work, { recursive: true, force: true });
	return { wall };
}

/**
 * `plan --no-local-copy` figures of 8 experts of a shape (Mistral-7B, Llama-2-70B), on one sparse model
 * holding only headers (5 GB shards) under 8 folders of symlinks: no weights are generated.
 */
async function planFigures(shapeName: string): Promise<void> {
	const shape = SHAPES[shapeName];
	const shards = planShards(denseTensorSpecs(shape, "BF16"), 4_900_000_000);
	const model = join(root, "sparse", shapeName);
	await mkdir(model, { recursive: true });
	for (const shard of shards) {
		const json = encodeShardHeader(shard);
		const prefix = Buffer.alloc(8);
		prefix.writeBigUInt64LE(BigInt(json.length));
		const handle = await open(join(model, shard.fileName), "w");
		await handle.write(prefix, 0, 8, 0);
		await handle.write(json, 0, json.length, 8);
		await handle.truncate(shard.headerBytes + shard.dataBytes);
		await handle.close();
	}
	if (shards.length > 1) await writeFile(join(model, "model.safetensors.index.json"), encodeIndex(shards));
	await writeFile(join(model, "config.json"), JSON.stringify(denseConfigJson(shape, "BF16")));
	const dirs: string[] = [];
	for (let i = 0; i < 8; i++) {
		const dir = join(root, "sparse", `${shapeName}-e${i}`);
		await mkdir(dir, { recursive: true });
		for (const name of await readdir(model)) await symlink(join(model, name), join(dir, name));
		dirs.push(dir);
	}
	const recipe = join(root, `8x${shapeName}.yml`);
	await writeFile(recipe, `base_model: ${dirs[0]}\ngate_mode: random\nexperts:\n${dirs.map((d) => `  - source_model: ${d}`).join("\n")}\n`);
	// The models are local here; `plan` counts Hub inputs only, so the figures are taken from its JSON with every input as if remote.
	const { planMerge, closeMergePlan } = await import("../src/merge/plan-merge.js");
	const { streamFigures } = await import("../src/merge/stream-figures.js");
	const { loadRecipe } = await import("../src/recipe/index.js");
	const plan = await planMerge(await loadRecipe(recipe), { hiddenGates: "skip", seed: 1 });
	const figures = streamFigures(plan, () => true);
	await closeMergePlan(plan);
	const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
	console.log(`\n8x ${shapeName} shape, 5 GB shards: output ${gb(plan.fileBytes)} in ${plan.shards.length} shards, largest tensor ${gb(Math.max(...plan.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * 2)))}`);
	console.log(`  disk (--no-local-copy): ${gb(figures.diskBytes)} + small files; with a local copy: ${gb(figures.inputFileBytes + plan.fileBytes)} (inputs in the cache + output)`);
	console.log(`  transfer: reads ${gb(figures.readBytes)} of ${gb(figures.inputFileBytes)} of inputs, uploads ${gb(figures.uploadBytes)}`);
	for (const t of figures.hoursAt) console.log(`  at ${t.bytesPerSecond / 1e6} MB/s: ${t.hours.toFixed(2)} h (reads + uploads one after the other)`);
}

