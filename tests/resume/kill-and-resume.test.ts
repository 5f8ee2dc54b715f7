/**
 * Real faults: the compiled CLI merging a 6-shard model is killed with SIGKILL (at random moments, and
 * at moments chosen by watching its resume record), then `--resume` finishes the job. Every file must
 * be sha256-equal to an uninterrupted run's and no partial folder may remain.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli, tempDir, writeRecipe } from "../merge/helpers.js";
import { ROUTERS_FILE_NAME } from "../../src/resume/recorded-routers.js";
import { folderHashes, leftovers, makeModels, recordOf, startCli, whenShardsComplete } from "./helpers.js";

const OPTIONS = ["--out-shard-size", "300KB", "--random-seed", "5"];
const SHARDS = 6;
const MERGE_THEN_DIE = resolve(dirname(fileURLToPath(import.meta.url)), "merge-then-die.js");

let work: string;
let recipes: { hidden: string; random: string };
/** The uninterrupted runs: file hashes and wall time. */
const reference: Record<"hidden" | "random", { hashes: Record<string, string>; ms: number }> = {} as never;

/** Runs the merge (with `extra` options), SIGKILLs it once `moment` resolves; returns whether the kill landed before the output was complete. */
async function killDuring(mode: "hidden" | "random", out: string, extra: string[], moment: (pid: number, child: ReturnType<typeof startCli>["child"]) => Promise<void>): Promise<boolean> {
	const run = startCli([recipes[mode], out, ...OPTIONS, ...extra], work);
	await moment(run.child.pid!, run.child);
	const landed = run.child.kill("SIGKILL");
	const result = await run.done;
	if (result.signal !== "SIGKILL") assert.equal(result.code, 0, result.stderr);
	// Killed after the rename into place (its last milliseconds): the output is complete, nothing to resume.
	const renamed = await stat(out).then(() => true, () => false);
	return landed && result.signal === "SIGKILL" && !renamed;
}

async function resumeAndCompare(mode: "hidden" | "random", out: string, note: string): Promise<string> {
	const run = await runCli([recipes[mode], out, ...OPTIONS, "--resume"], { cwd: work });
	assert.equal(run.code, 0, `${note}\n${run.stderr}`);
	assert.deepEqual(await folderHashes(out), reference[mode].hashes, note);
	assert.deepEqual(await leftovers(dirname(out)), [], `${note}: no partial folder is left`);
	return run.stderr;
}

describe("a merge killed with SIGKILL and resumed", () => {
	before(async () => {
		work = await mkdtemp(join(tmpdir(), "moe-merge-resume-"));
		const models = await makeModels(join(work, "models"));
		const experts = [
			{ model: models.a, prompts: ["def fibonacci(n):", "Write a JavaScript function"] },
			{ model: models.b, prompts: ["Once upon a time", "Write a poem about the sea"] },
		];
		recipes = {
			hidden: await writeRecipe(work, { base: models.base, experts, gateMode: "hidden", dtype: "bfloat16", name: "hidden.yml" }),
			random: await writeRecipe(work, { base: models.base, experts, gateMode: "random", dtype: "bfloat16", name: "random.yml" }),
		};
		for (const mode of ["hidden", "random"] as const) {
			const out = join(work, `reference-${mode}`);
			const started = performance.now();
			const run = await runCli([recipes[mode], out, ...OPTIONS], { cwd: work });
			assert.equal(run.code, 0, run.stderr);
			reference[mode] = { hashes: await folderHashes(out), ms: performance.now() - started };
		}
		assert.equal(Object.keys(reference.hidden.hashes).filter((n) => n.endsWith(".safetensors")).length, SHARDS);
		assert.deepEqual(Object.keys(reference.hidden.hashes).filter((n) => n.startsWith(".")), [], "the resume record does not end up in the output");
	});
	after(() => rm(work, { recursive: true, force: true }));

	for (const mode of ["hidden", "random"] as const) {
		it(`${mode} gates: killed at random moments gives the files of an uninterrupted run`, async () => {
			const out = join(await tempDir(), "out");
			// Uniform over the reference run's wall time: planning, writing, the forward pass, the side files.
			// Hidden gates: the resume is killed too, then resumed again (random gates: one kill, to keep the suite short).
			const delays = (mode === "hidden" ? [Math.random(), Math.random()] : [Math.random()]).map((f) => Math.round(f * reference[mode].ms));
			const note = `${mode} gates, SIGKILL after ${delays.join(" ms, then ")} ms`;
			const first = await killDuring(mode, out, [], () => sleep(delays[0]));
			if (!first) {
				assert.deepEqual(await folderHashes(out), reference[mode].hashes, `${note}: finished before the kill`);
				assert.deepEqual(await leftovers(dirname(out)), []);
				return;
			}
			const second = delays.length > 1 && (await killDuring(mode, out, ["--resume"], () => sleep(delays[1])));
			if (delays.length > 1 && !second) {
				assert.deepEqual(await folderHashes(out), reference[mode].hashes, `${note}: the resume finished before the kill`);
				assert.deepEqual(await leftovers(dirname(out)), []);
				return;
			}
			await resumeAndCompare(mode, out, note);
		});
	}

	it("killed after 3 shards: the abandoned folder is reported with its size and the commands, a corrupted kept shard is written again", async () => {
		const out = join(await tempDir(), "out");
		let record: Awaited<ReturnType<typeof recordOf>>;
		let pid = 0;
		assert.ok(await killDuring("hidden", out, [], async (p, child) => {
			pid = p;
			await whenShardsComplete(out, child, 3);
			record = await recordOf(out, p);
		}), "killed before the end");
		const partial = join(dirname(out), `.out.moe-merge-partial-${pid}`);
		const plan = await runCli(["plan", recipes.hidden, out, ...OPTIONS], { cwd: work });
		assert.equal(plan.code, 0, plan.stderr);
		const shell = partial.replaceAll(".", "\\.");
		assert.match(plan.stdout, new RegExp(`${shell} \\([\\d.]+ [KM]B\\) was left by process ${pid}, which is no longer running \\(\\d of ${SHARDS} shards complete\\); resume it with: moe-merge ${recipes.hidden.replaceAll(".", "\\.")} ${out.replaceAll(".", "\\.")} --out-shard-size 300KB --random-seed 5 --resume; or remove it with: rm -rf '${shell}'`));

		// One byte flipped in the middle of the second complete shard.
		const victim = record!.complete[1]!;
		const handle = await open(join(partial, victim.name), "r+");
		const byte = Buffer.alloc(1);
		await handle.read(byte, 0, 1, Math.floor(victim.size / 2));
		await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, Math.floor(victim.size / 2));
		await handle.close();

		const stderr = await resumeAndCompare("hidden", out, "corrupted shard");
		assert.match(stderr, new RegExp(`resuming ${shell} \\(left by process ${pid}\\): [2-5] of ${SHARDS} shard\\(s\\) complete and sha256-checked, kept`));
		assert.match(stderr, new RegExp(`${victim.name.replaceAll(".", "\\.")} is written again: sha256 differs from the recorded one`));
	});

	it("a changed recipe or seed refuses with the reason and leaves the partial folder; the same job then resumes", async () => {
		const out = join(await tempDir(), "out");
		assert.ok(await killDuring("random", out, [], (_, child) => whenShardsComplete(out, child, 2)), "killed before the end");
		const [partial] = await leftovers(dirname(out));
		const text = await readFile(recipes.random, "utf8");
		await writeFile(recipes.random, text.replace("Once upon a time", "Twice upon a time"));
		try {
			const changed = await runCli([recipes.random, out, ...OPTIONS, "--resume"], { cwd: work });
			assert.equal(changed.code, 1, changed.stderr);
			assert.match(changed.stderr, /cannot resume: .* is another merge: the recipe changed: line \d+ was ".*Once upon a time.*", is now ".*Twice upon a time.*"/);
			assert.match(changed.stderr, /hint: .*rm -rf '/);
		} finally {
			await writeFile(recipes.random, text);
		}
		const seed = await runCli([recipes.random, out, "--out-shard-size", "300KB", "--random-seed", "6", "--resume"], { cwd: work });
		assert.equal(seed.code, 1, seed.stderr);
		assert.match(seed.stderr, /--random-seed was 5, is now 6/);
		assert.deepEqual(await leftovers(dirname(out)), [partial], "refused, and left in place");
		await resumeAndCompare("random", out, "after the refusals");
	});

	/** A hidden-gates merge killed by itself once every shard is written, just before the rename; returns the partial folder. */
	async function mergeThenDie(out: string): Promise<string> {
		const child = spawn(process.execPath, [MERGE_THEN_DIE, recipes.hidden, out], { cwd: work, stdio: "ignore" });
		const signal = await new Promise((r) => child.on("close", (_, s) => r(s)));
		assert.equal(signal, "SIGKILL");
		return join(dirname(out), `.out.moe-merge-partial-${child.pid}`);
	}

	it("killed after every shard was written: the resume runs no forward pass and only writes the side files", async () => {
		const out = join(await tempDir(), "out");
		await mergeThenDie(out);
		const stderr = await resumeAndCompare("hidden", out, "killed before the rename");
		assert.match(stderr, new RegExp(`${SHARDS} of ${SHARDS} shard\\(s\\) complete and sha256-checked, kept`));
		assert.doesNotMatch(stderr, /gates: layer/, "the recorded gates are used");
	});

	for (const routersSaved of [true, false]) {
		it(`killed after every shard was written, the last one (the routers) then corrupted: it is written again from the ${routersSaved ? "saved router values" : "forward pass, run again (router values lost)"}`, async () => {
			const out = join(await tempDir(), "out");
			const partial = await mergeThenDie(out);
			const last = `model-0000${SHARDS}-of-0000${SHARDS}.safetensors`;
			const handle = await open(join(partial, last), "r+");
			const { size } = await handle.stat();
			await handle.write(Buffer.from([0xaa, 0x55]), 0, 2, size - 2);
			await handle.close();
			if (!routersSaved) await rm(join(partial, ROUTERS_FILE_NAME));
			const stderr = await resumeAndCompare("hidden", out, `last shard corrupted, router values ${routersSaved ? "kept" : "removed"}`);
			assert.match(stderr, new RegExp(`${SHARDS - 1} of ${SHARDS} shard\\(s\\) complete and sha256-checked, kept`));
			assert.match(stderr, new RegExp(`${last.replaceAll(".", "\\.")} is written again: sha256 differs from the recorded one`));
			if (routersSaved) assert.doesNotMatch(stderr, /gates: layer/, "no forward pass: the saved router values are used");
			else assert.match(stderr, /gates: layer/, "the routers are computed again");
		});
	}

	for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
		it(`${signal} after 2 shards keeps the complete shards and the record, says how to resume or remove them; --resume gives the files of an uninterrupted run`, async () => {
			const out = join(await tempDir(), "out");
			const run = startCli([recipes.hidden, out, ...OPTIONS], work);
			await whenShardsComplete(out, run.child, 2);
			run.child.kill(signal);
			const result = await run.done;
			assert.equal(result.code, code, result.stderr);
			const partial = join(dirname(out), `.out.moe-merge-partial-${run.child.pid}`);
			const shell = partial.replaceAll(".", "\\.");
			assert.match(result.stderr, new RegExp(`error: interrupted by ${signal}; [2-6] of ${SHARDS} shards are complete \\(fsynced, sha256 recorded\\) and kept in ${shell} \\([\\d.]+ [KM]B\\)\nhint: continue with: moe-merge ${recipes.hidden.replaceAll(".", "\\.")} ${out.replaceAll(".", "\\.")} --out-shard-size 300KB --random-seed 5 --resume; or remove it with: rm -rf '${shell}'`));
			// Only what a resume continues from: the record, the shards it names (at their recorded size), the saved routers.
			const record = (await recordOf(out, run.child.pid!))!;
			const expected = [".moe-merge-resume.json", ...record.complete.map((c) => c.name), ...(record.routers ? [ROUTERS_FILE_NAME] : [])].sort();
			assert.deepEqual((await readdir(partial)).sort(), expected);
			for (const c of record.complete) assert.equal((await stat(join(partial, c.name))).size, c.size);
			const stderr = await resumeAndCompare("hidden", out, `after ${signal}`);
			assert.match(stderr, new RegExp(`resuming ${shell} \\(left by process ${run.child.pid}\\): ${record.complete.length} of ${SHARDS} shard\\(s\\) complete and sha256-checked, kept`));
		});
	}

	it("SIGTERM then SIGKILL at once (a scheduler with no grace time): --resume gives the files of an uninterrupted run", async () => {
		const out = join(await tempDir(), "out");
		const run = startCli([recipes.random, out, ...OPTIONS], work);
		await whenShardsComplete(out, run.child, 3);
		run.child.kill("SIGTERM");
		await sleep(Math.floor(Math.random() * 20));
		run.child.kill("SIGKILL");
		const result = await run.done;
		if (result.code === 0) {
			assert.deepEqual(await folderHashes(out), reference.random.hashes, "finished before the signals");
			return;
		}
		await resumeAndCompare("random", out, "SIGTERM then SIGKILL");
	});

	it("--resume with nothing to resume merges from the start and says so", async () => {
		const out = join(await tempDir(), "out");
		const stderr = await resumeAndCompare("random", out, "nothing to resume");
		assert.match(stderr, /nothing to resume beside .*out: merging from the start/);
	});
});
