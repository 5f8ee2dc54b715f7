/**
 * `--gguf <type>` on a merge: the GGUF files written from the merge's own stream are byte for byte
 * what `moe-merge gguf` makes of the finished folder (whose files llama.cpp is checked on, tests/gguf/),
 * whatever the order the stream brings the tensors in (per-expert, fused, hidden-state routers computed
 * last, several shards), and from a per-expert stream (its expert tensors come projection by projection,
 * the order of GGUF's stacks) with nothing held back; they are in the lock and checked by verify; the card, --json and plan name
 * them; what llama.cpp cannot take is refused before anything is written.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { tmpdir } from "node:os";
import { convertToGguf, planGgufFile } from "../../src/gguf-convert/convert-to-gguf.js";
import { readGgufHeader } from "../../src/gguf/read-gguf.js";
import { ModelWeights } from "../../src/safetensors/model-weights.js";
import { FIXTURES, runCli, tempDir, writeRecipe } from "./helpers.js";
import { folderHashes, makeModels, startCli, whenShardsComplete } from "../resume/helpers.js";

const MODELS = join(FIXTURES, "models");
const MERGE_THEN_DIE = join(dirname(fileURLToPath(import.meta.url)), "..", "resume", "merge-then-die.js");
const BASE = join(MODELS, "llama-base");
const EXPERTS = [{ model: join(MODELS, "llama-expert-a") }, { model: join(MODELS, "llama-expert-b") }, { model: BASE, extra: "noise_scale: 0.05" }];

/** Merges with --gguf and checks each file equals `moe-merge gguf` of the output; gives the folder and --json's `gguf`. */
async function mergeAndCompare(dir: string, name: string, recipe: string, args: string[], types: string[]): Promise<{ out: string; gguf: { file: string; heldBytes: number }[] }> {
	const out = join(dir, name);
	const run = await runCli([recipe, out, "--random-seed", "5", "--json", ...types.flatMap((t) => ["--gguf", t]), ...args]);
	assert.equal(run.code, 0, run.stderr);
	for (const type of types) {
		const merged = join(out, `${name}-${type.toUpperCase()}.gguf`);
		const converted = join(dir, `${name}-${type}-converted.gguf`);
		await convertToGguf(out, { output: converted, type: type as "f16" });
		assert.ok((await readFile(merged)).equals(await readFile(converted)), `${name}: ${merged} differs from moe-merge gguf's ${converted}`);
	}
	return { out, gguf: (JSON.parse(run.stdout) as { gguf: { file: string; heldBytes: number }[] }).gguf };
}

describe("merge --gguf writes what moe-merge gguf writes, from the merge's stream", () => {
	test("per-expert and fused layouts, several shards, every type", async () => {
		const dir = await tempDir();
		const recipe = await writeRecipe(dir, { base: BASE, experts: EXPERTS, extra: "experts_per_token: 2" });
		const perExpert = await mergeAndCompare(dir, "per-expert", recipe, [], ["f32", "f16", "bf16", "q8_0"]);
		// The per-expert tensors stream in the order of GGUF's expert stacks: nothing waits in memory for its place.
		assert.deepEqual(perExpert.gguf.map((g) => g.heldBytes), [0, 0, 0, 0]);
		// That order in the shard: every expert's gate_proj (Mixtral's w1), then every up_proj (w3), then every down_proj (w2).
		const perExpertWeights = await ModelWeights.open(perExpert.out);
		try {
			const layer0 = perExpertWeights.names().filter((n) => n.startsWith("model.layers.0.block_sparse_moe.experts."));
			const inFile = layer0.sort((a, b) => perExpertWeights.get(a).info.begin - perExpertWeights.get(b).info.begin);
			const expected = ["w1", "w3", "w2"].flatMap((w) => [0, 1, 2].map((e) => `model.layers.0.block_sparse_moe.experts.${e}.${w}.weight`));
			assert.deepEqual(inFile, expected);
		} finally {
			await perExpertWeights.close();
		}
		const fused = await mergeAndCompare(dir, "fused", recipe, ["--layout", "fused"], ["q8_0"]);
		// gate_up_proj interleaves each expert's gate and up halves: the up halves of one layer wait for the gate stack, no more.
		const upStack = (await readGgufHeader(join(fused.out, fused.gguf[0]!.file))).tensors.find((t) => t.name === "blk.0.ffn_up_exps.weight")!;
		assert.ok(fused.gguf[0]!.heldBytes > 0 && fused.gguf[0]!.heldBytes <= upStack.bytes, `${fused.gguf[0]!.heldBytes} bytes held, one up stack has ${upStack.bytes}`);
		const { out: sharded, gguf: shardedGguf } = await mergeAndCompare(dir, "sharded", recipe, ["--out-shard-size", "400K"], ["f16"]);
		assert.equal(shardedGguf[0]!.heldBytes, 0);
		assert.ok((await readdir(sharded)).filter((n) => n.endsWith(".safetensors")).length > 1);
		// The table follows the shards' file names, not the order an index mentions them in (an untied
		// model's index names lm_head, in the last shard, first; a merge wrote such files and failed its own check).
		const weights = await ModelWeights.open(sharded);
		try {
			const inOrder = await planGgufFile(sharded, weights, { type: "f16", name: "x" });
			const reversed = await planGgufFile(sharded, { names: () => weights.names(), get: (n) => weights.get(n), shards: () => [...weights.shards()].reverse() }, { type: "f16", name: "x" });
			assert.deepEqual(reversed.tensors.map((t) => t.name), inOrder.tensors.map((t) => t.name));
		} finally {
			await weights.close();
		}
	});

	test("hidden-state routers, computed while the shards are written and streamed last", async () => {
		const dir = await tempDir();
		await cp(join(FIXTURES, "recipes", "mixtral-hidden.yml"), join(dir, "recipes", "hidden.yml"), { recursive: true });
		await cp(MODELS, join(dir, "models"), { recursive: true });
		const { gguf } = await mergeAndCompare(dir, "hidden", join(dir, "recipes", "hidden.yml"), [], ["f16"]);
		assert.equal(gguf[0]!.heldBytes, 0);
	});
});

test("the GGUF files are in the lock, verified, named by the card and --json; plan lists them with their sizes", async () => {
	const dir = await tempDir();
	const recipe = await writeRecipe(dir, { base: BASE, experts: EXPERTS.slice(0, 2) });
	const out = join(dir, "moe");
	const run = await runCli([recipe, out, "--gguf", "q8_0", "--gguf", "F16", "--gguf", "q8_0", "--json"]);
	assert.equal(run.code, 0, run.stderr);
	const result = JSON.parse(run.stdout) as { gguf: { file: string; type: string; bytes: number; sha256: string }[]; files: string[] };
	assert.deepEqual(result.gguf.map((g) => g.file), ["moe-Q8_0.gguf", "moe-F16.gguf"]);
	for (const g of result.gguf) {
		assert.ok(result.files.includes(g.file));
		assert.equal((await stat(join(out, g.file))).size, g.bytes);
	}
	const lock = await readFile(join(out, "moe-merge.lock.json"), "utf8");
	for (const g of result.gguf) assert.ok(lock.includes(g.sha256), `the lock has ${g.file}'s sha256`);
	const card = await readFile(join(out, "README.md"), "utf8");
	assert.match(card, /## GGUF/);
	assert.match(card, /\| `moe-Q8_0\.gguf` \| Q8_0 \| [\d.]+ [KM]B \|/);
	assert.match(card, /llama-cli -m moe-Q8_0\.gguf/);
	assert.match(card, /FROM \.\/moe-Q8_0\.gguf/);
	assert.match(card, /LM Studio/);

	const verified = await runCli(["verify", out]);
	assert.equal(verified.code, 0, verified.stderr);
	// One byte of tensor data changed: the header still reads, the lock's sha256 catches it.
	const file = join(out, "moe-F16.gguf");
	const bytes = await readFile(file);
	bytes[bytes.length - 100] ^= 1;
	await writeFile(file, bytes);
	const broken = await runCli(["verify", out]);
	assert.equal(broken.code, 1);
	assert.match(broken.stdout + broken.stderr, /moe-F16\.gguf/);

	const plan = await runCli(["plan", recipe, join(dir, "next"), "--gguf", "f16"]);
	assert.equal(plan.code, 0, plan.stderr);
	assert.match(plan.stdout, new RegExp(`next-F16\\.gguf: \\d+ tensors, F16, ${(result.gguf[1]!.bytes / 1e6).toFixed(2)} MB`));
});

describe("what llama.cpp cannot take is refused before anything is written", () => {
	const cases: [string, (dir: string) => Promise<string[]>, RegExp][] = [
		["a type that is not one", async (dir) => [await writeRecipe(dir, { base: BASE, experts: EXPERTS }), "--gguf", "q4_k"], /--gguf.*expected one of f32, f16, q8_0, bf16/],
		["--no-copy-tokenizer", async (dir) => [await writeRecipe(dir, { base: BASE, experts: EXPERTS }), "--gguf", "f16", "--no-copy-tokenizer"], /--gguf needs the tokenizer/],
		["an output llama.cpp cannot run (DeepSeek MoE without shared experts)", async (dir) => [await writeRecipe(dir, { base: BASE, experts: EXPERTS, extra: "architecture: deepseek" }), "--gguf", "f16"], /llama\.cpp cannot run .*shared experts/],
		["a base model without tokenizer.json", async (dir) => {
			const base = join(dir, "base");
			await cp(BASE, base, { recursive: true });
			await rm(join(base, "tokenizer.json"));
			return [await writeRecipe(dir, { base, experts: EXPERTS }), "--gguf", "f16"];
		}, /no tokenizer\.json and no tokenizer\.model; a GGUF file needs the vocabulary/],
	];
	for (const [name, setup, message] of cases) {
		test(name, async () => {
			const dir = await tempDir();
			const args = await setup(dir);
			const run = await runCli([...args.slice(0, 1), join(dir, "out"), ...args.slice(1)]);
			assert.equal(run.code, 1, run.stderr);
			// The first line says it (a hint may follow).
			assert.match(run.stderr.trim().split("\n")[0]!, message);
			assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith("out") || n.startsWith(".out")), []);
		});
	}
});

describe("--resume with --gguf", () => {
	const options = ["--out-shard-size", "300KB", "--random-seed", "5", "--gguf", "f16"];
	let dir: string;
	let recipe: string;
	/** The files of an uninterrupted run (same folder name: the GGUF's general.name and file name). */
	let reference: Record<string, string>;
	before(async () => {
		dir = await mkdtemp(join(tmpdir(), "moe-merge-gguf-resume-"));
		const models = await makeModels(join(dir, "models"));
		recipe = await writeRecipe(dir, { base: models.base, experts: [{ model: models.a }, { model: models.b }], dtype: "bfloat16" });
		const out = join(dir, "reference", "moe");
		const uninterrupted = await runCli([recipe, out, ...options]);
		assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
		reference = await folderHashes(out);
	});
	after(() => rm(dir, { recursive: true, force: true }));

	/** `<dir>/<name>/moe`, its parent created. */
	async function outputIn(name: string): Promise<string> {
		await mkdir(join(dir, name));
		return join(dir, name, "moe");
	}

	/** Merges with --gguf f16 and dies (SIGKILL, or interrupted as by SIGTERM) once the GGUF file is complete, before the end; returns the partial folder. */
	async function mergeThenDie(out: string, how: "kill" | "abort"): Promise<string> {
		const child = spawn(process.execPath, [MERGE_THEN_DIE, recipe, out, "gguf=f16", ...(how === "abort" ? ["abort"] : [])], { cwd: dir, stdio: "inherit" });
		const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on("close", (c, s) => r([c, s])));
		assert.deepEqual([code, signal], how === "kill" ? [null, "SIGKILL"] : [0, null]);
		assert.ok(await stat(out).then(() => false, () => true), "died before the end");
		return join(dirname(out), `.moe.moe-merge-partial-${child.pid}`);
	}

	test("a SIGKILL after 2 shards: the GGUF file is written again from the shards, kept ones included: the files of an uninterrupted run", async () => {
		const out = await outputIn("killed-early");
		const killed = startCli([recipe, out, ...options], dir);
		await whenShardsComplete(out, killed.child, 2);
		killed.child.kill("SIGKILL");
		await killed.done;
		assert.ok(await stat(out).then(() => false, () => true), "killed before the end");
		const resumed = await runCli([recipe, out, ...options, "--resume"]);
		assert.equal(resumed.code, 0, resumed.stderr);
		assert.match(resumed.stderr, /resuming .*: [1-9] of \d+ shard\(s\) complete and sha256-checked, kept/);
		assert.deepEqual(await folderHashes(out), reference);
	});

	/** The partial folder of a merge SIGKILLed once its GGUF file was complete, copied for each test that damages it. */
	let killedComplete: Promise<string> | undefined;
	async function partialCopy(out: string): Promise<string> {
		killedComplete ??= outputIn("template").then((template) => mergeThenDie(template, "kill"));
		const partial = await killedComplete;
		const copy = join(dirname(out), basename(partial));
		await cp(partial, copy, { recursive: true });
		return copy;
	}

	for (const how of ["kill", "abort"] as const) {
		test(`${how === "kill" ? "SIGKILL" : "interrupted (as by SIGTERM)"} after the GGUF file was complete: the resume keeps it, not rewritten (same inode, same mtime); the files of an uninterrupted run`, async () => {
			const out = await outputIn(`complete-${how}`);
			const partial = await mergeThenDie(out, how);
			const before = await stat(join(partial, "moe-F16.gguf"));
			const resumed = await runCli([recipe, out, ...options, "--resume"]);
			assert.equal(resumed.code, 0, resumed.stderr);
			assert.match(resumed.stdout, /^kept moe-F16\.gguf \([\d.]+ [KM]B, sha256 [0-9a-f]{64}\): complete from the interrupted merge, size, header and sha256 checked$/m);
			const after = await stat(join(out, "moe-F16.gguf"));
			assert.equal(after.ino, before.ino, "the same file");
			assert.equal(after.mtimeMs, before.mtimeMs, "not written again");
			assert.deepEqual(await folderHashes(out), reference);
		});
	}

	const damages: [string, (file: string) => Promise<void>, RegExp][] = [
		["truncated", (file) => truncate(file, 5000), /\d+ bytes, \d+ recorded/],
		["one byte of tensor data changed", (file) => flipByte(file, -100), /sha256 differs from the recorded one/],
		["one byte of the header changed", (file) => flipByte(file, 40), /its header is not the planned one/],
	];
	for (const [damage, harm, reason] of damages) {
		test(`a complete GGUF file then ${damage}: the resume writes it again, and says why`, async () => {
			const out = await outputIn(damage.replaceAll(" ", "-"));
			const partial = await partialCopy(out);
			await harm(join(partial, "moe-F16.gguf"));
			const resumed = await runCli([recipe, out, ...options, "--resume"]);
			assert.equal(resumed.code, 0, resumed.stderr);
			assert.match(resumed.stdout, new RegExp(`^wrote moe-F16\\.gguf .* again: ${reason.source}$`, "m"));
			assert.deepEqual(await folderHashes(out), reference);
		});
	}

	test("resumed without --gguf: the GGUF file of the interrupted merge is not in the output, which verifies", async () => {
		const out = await outputIn("without-gguf");
		await partialCopy(out);
		const resumed = await runCli([recipe, out, ...options.slice(0, -2), "--resume"]);
		assert.equal(resumed.code, 0, resumed.stderr);
		assert.deepEqual((await readdir(out)).filter((n) => n.endsWith(".gguf")), []);
		const verified = await runCli(["verify", out]);
		assert.equal(verified.code, 0, verified.stdout + verified.stderr);
	});
});

/** Flips one byte of a file, at `at` (from the end when negative). */
async function flipByte(file: string, at: number): Promise<void> {
	const bytes = await readFile(file);
	bytes[at < 0 ? bytes.length + at : at] ^= 0xff;
	await writeFile(file, bytes);
}
