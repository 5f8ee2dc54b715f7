/**
 * apply-lora has a merge's resume guarantees: the compiled CLI folding an adapter into a model over
 * many small shards is killed (SIGKILL, then SIGTERM) after some shards are complete, and `--resume`
 * finishes the job; every file must be sha256-equal to an uninterrupted run's, no partial folder left.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempDir } from "../merge/helpers.js";
import { folderHashes, leftovers, makeModels, recordOf, startCli, whenShardsComplete } from "../resume/helpers.js";
import { writeRandomAdapter } from "./helpers.js";

const OPTIONS = ["--out-shard-size", "100KB"];

let work: string;
let args: (out: string) => string[];
let reference: Record<string, string>;

/** Starts apply-lora, sends `signal` once `shards` shards are recorded complete; returns the run's result and pid. */
async function interruptAfter(out: string, shards: number, signal: NodeJS.Signals) {
	const run = startCli(args(out), work);
	await whenShardsComplete(out, run.child, shards);
	const record = await recordOf(out, run.child.pid!);
	assert.ok(run.child.kill(signal), "the kill landed while it ran");
	return { result: await run.done, pid: run.child.pid!, record };
}

describe("apply-lora killed and resumed", () => {
	before(async () => {
		work = await mkdtemp(join(tmpdir(), "moe-merge-lora-resume-"));
		const { base } = await makeModels(join(work, "models"));
		const adapter = join(work, "adapter");
		const modules = [0, 1, 2, 3].flatMap((l) => [
			{ module: `model.layers.${l}.self_attn.q_proj`, out: 64, in: 64 },
			{ module: `model.layers.${l}.mlp.down_proj`, out: 64, in: 384 },
			{ module: `model.layers.${l}.mlp.up_proj`, out: 384, in: 64 },
		]);
		await writeRandomAdapter(adapter, modules, 4, 8);
		args = (out) => ["apply-lora", base, adapter, "-o", out, ...OPTIONS];
		const ref = join(work, "reference");
		const run = await runCli(args(ref), { cwd: work });
		assert.equal(run.code, 0, run.stderr);
		reference = await folderHashes(ref);
		assert.ok(Object.keys(reference).filter((n) => n.endsWith(".safetensors")).length >= 6, "several shards");
	});
	after(() => rm(work, { recursive: true, force: true }));

	it("SIGKILL after 2 shards, then --resume: the files of an uninterrupted run; another dtype is refused", async () => {
		const out = join(await tempDir(), "out");
		const { result, pid, record } = await interruptAfter(out, 2, "SIGKILL");
		assert.equal(result.signal, "SIGKILL");
		assert.ok(record && record.complete.length >= 2);
		const partial = join(dirname(out), `.out.moe-merge-partial-${pid}`);
		assert.ok((await readdir(partial)).length > 0);

		const other = await runCli([...args(out), "--dtype", "float32", "--resume"], { cwd: work });
		assert.equal(other.code, 1, other.stderr);
		assert.match(other.stderr, /cannot resume: .* is another merge: the recipe changed: line 4 was "dtype: each tensor's own", is now "dtype: F32"/);

		const resumed = await runCli([...args(out), "--resume"], { cwd: work });
		assert.equal(resumed.code, 0, resumed.stderr);
		assert.match(resumed.stderr, new RegExp(`resuming ${partial.replaceAll(".", "\\.")} \\(left by process ${pid}\\): [2-9] of \\d+ shard\\(s\\) complete and sha256-checked, kept`));
		assert.deepEqual(await folderHashes(out), reference);
		assert.deepEqual(await leftovers(dirname(out)), [], "no partial folder is left");
	});

	it("SIGTERM keeps the complete shards and says how to resume; --resume finishes byte-identical", async () => {
		const out = join(await tempDir(), "out");
		const { result } = await interruptAfter(out, 3, "SIGTERM");
		assert.equal(result.code, 143, result.stderr);
		assert.match(result.stderr, /interrupted by SIGTERM; \d+ of \d+ shards are complete \(fsynced, sha256 recorded\) and kept in /);
		assert.match(result.stderr, /continue with: moe-merge apply-lora .* --out-shard-size 100KB --resume/);
		const resumed = await runCli([...args(out), "--resume"], { cwd: work });
		assert.equal(resumed.code, 0, resumed.stderr);
		assert.deepEqual(await folderHashes(out), reference);
		assert.deepEqual(await leftovers(dirname(out)), []);
	});

	it("--resume with nothing to resume writes from the start", async () => {
		const out = join(await tempDir(), "out");
		const run = await runCli([...args(out), "--resume"], { cwd: work });
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stderr, /nothing to resume beside/);
		assert.deepEqual(await folderHashes(out), reference);
	});
});
