/**
 * End-to-end benchmark of a merge with hidden-state gates, against mergekit-moe on the same recipe in
 * the same run (the machine's speed drifts; ratios from one run hold). 4 experts of TinyLlama-1.1B or
 * Mistral-7B shape, `gate_mode: hidden`, 12 prompts. Each round runs, one after the other:
 *   - moe-merge, the whole merge (forward pass and writing overlapped);
 *   - its two halves alone, to measure core-seconds per phase: the gates only (no tensor written) and
 *     the same merge with random gates (writing only);
 *   - mergekit-moe (../shared/peer, when installed) on the same recipe.
 * Every run is timed under /usr/bin/time (wall, user + system CPU, peak RSS); dd with fdatasync measures
 * the disk in the same run.
 *
 *   npm run bench:hidden -- --shape mistral7b [--rounds 1] [--no-peer] [--no-halves]
 */
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { CLI, PROMPTS, REPO, SHAPES, type TimedRun, addTokenizer, ddWriteSpeed, ensureModels, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "mistral7b" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		rounds: { type: "string", default: "1" },
		"no-peer": { type: "boolean", default: false },
		"no-halves": { type: "boolean", default: false },
		peer: { type: "string", default: join(REPO, "..", "shared", "peer", "mk") },
	},
});

const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const root = resolve(values.dir as string, values.shape as string);
const peer = values.peer as string;
const peerInstalled = existsSync(peer) && existsSync(join(process.env.MK_ROOT ?? join(homedir(), ".cache", "mk"), "venv", "bin", "mergekit-moe"));

async function writeRecipe(file: string, models: string[], gateMode: string): Promise<void> {
	const experts = PROMPTS.map((prompts, i) => `  - source_model: ${models[i % models.length]}\n    positive_prompts: ${JSON.stringify(prompts)}`);
	await writeFile(file, [`base_model: ${models[0]}`, `gate_mode: ${gateMode}`, "dtype: bfloat16", "experts:", ...experts, ""].join("\n"));
}

/** Runs a merge into `out` and removes it afterwards (the disk holds one output at a time). */
async function merge(command: string, args: string[], out: string, env?: NodeJS.ProcessEnv): Promise<TimedRun> {
	await rm(out, { recursive: true, force: true });
	execFileSync("sync");
	if (command !== process.execPath) await mkdir(out, { recursive: true });
	const run = timeCommand(command, args, env);
	await rm(out, { recursive: true, force: true });
	execFileSync("sync");
	return run;
}

async function main(): Promise<void> {
	const models = await ensureModels(root, shape, 4, values.shape === "mistral7b" ? 1 : 4);
	addTokenizer(models[0]);
	const hidden = join(root, "hidden-recipe.yml");
	const random = join(root, "random-recipe.yml");
	await writeRecipe(hidden, models, "hidden");
	await writeRecipe(random, models, "random");
	warmPageCache(values.shape === "mistral7b" ? models.slice(0, 1) : models);
	const out = join(root, "out");
	const ours = (recipe: string) => [CLI, recipe, out, "--json", "--random-seed", "1", "--i-understand-this-is-not-useful-without-training"];
	const dd = [ddWriteSpeed(root, 4)];
	const rounds: Record<string, unknown>[] = [];
	if (!peerInstalled && !values["no-peer"]) console.error(`mergekit-moe is not installed (${peer}; see ../shared/peer/README.md): timing moe-merge alone`);
	for (let r = 0; r < Number(values.rounds); r++) {
		const whole = await merge(process.execPath, ours(hidden), out);
		const result = JSON.parse(whole.stdout);
		const round: Record<string, unknown> = {
			moeMerge: { wallSeconds: whole.wallSeconds, coreSeconds: whole.coreSeconds, peakRssMB: whole.peakRssMB, outputGB: +(result.bytes / 1e9).toFixed(2), forward: result.gates.forward },
		};
		console.error(`round ${r + 1}: moe-merge ${JSON.stringify(round.moeMerge)}`);
		if (!values["no-halves"]) {
			const gates = timeCommand(process.execPath, [join(REPO, ".bench-build", "bench", "gates-run.js"), hidden]);
			const writing = await merge(process.execPath, ours(random), out);
			round.halves = {
				gatesOnly: { wallSeconds: gates.wallSeconds, coreSeconds: gates.coreSeconds, peakRssMB: gates.peakRssMB, ...JSON.parse(gates.stdout) },
				writingOnly: { wallSeconds: writing.wallSeconds, coreSeconds: writing.coreSeconds, peakRssMB: writing.peakRssMB },
			};
			console.error(`round ${r + 1}: halves ${JSON.stringify(round.halves)}`);
		}
		if (peerInstalled && !values["no-peer"]) {
			const mk = await merge(peer, [hidden, out, "--i-understand-this-is-not-useful-without-training", "--random-seed", "1"], out);
			round.mergekitMoe = { wallSeconds: mk.wallSeconds, coreSeconds: mk.coreSeconds, peakRssMB: mk.peakRssMB };
			round.wallRatio = +(whole.wallSeconds / mk.wallSeconds).toFixed(3);
			console.error(`round ${r + 1}: mergekit-moe ${JSON.stringify(round.mergekitMoe)}, moe-merge / mergekit-moe = ${round.wallRatio}`);
		}
		dd.push(ddWriteSpeed(root, 4));
		round.ddGBps = [+dd[r].toFixed(3), +dd[r + 1].toFixed(3)];
		rounds.push(round);
	}
	console.log(JSON.stringify({ shape: values.shape, gateMode: "hidden", prompts: 12, rounds, node: process.version }, null, 2));
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
