/** Which partial folder a --resume may continue: the record of the interrupted merge against this one's. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { OutputError } from "../../src/errors.js";
import { stampOf } from "../../src/inputs/input-stamps.js";
import { firstDifference, resumeMismatches } from "../../src/resume/resume-match.js";
import { adoptStagingDir, stagingPathOf } from "../../src/resume/staging-dir.js";
import type { ResumeRecord } from "../../src/resume/resume-record.js";
import { tempDir } from "../merge/helpers.js";

const RECIPE = "base_model: ./base\ngate_mode: random\nexperts:\n  - source_model: ./a\n  - source_model: ./b\n";

function record(overrides: Partial<ResumeRecord> = {}): ResumeRecord {
	return {
		resumeRecordVersion: 1,
		tool: "moe-merge 0.1.0",
		recipe: { path: "/r/recipe.yml", sha256: sha256(RECIPE), text: RECIPE },
		options: { seed: 7, layout: "per-expert", shardSize: 1_000_000 },
		inputs: [{ model: "./a", files: [{ name: "model.safetensors", stamp: "10:1:1" }] }],
		shards: [
			{ name: "model-00001-of-00002.safetensors", bytes: 900, header: "h1" },
			{ name: "model-00002-of-00002.safetensors", bytes: 500, header: "h2" },
		],
		complete: [],
		...overrides,
	};
}

function sha256(text: string): string {
	return createHash("sha256").update(text).digest("hex");
}

const NO_DIRS = new Map<string, string>();

describe("resume records", () => {
	it("the same job matches, whatever shards are complete and whatever command started it", async () => {
		const was = record({ complete: [{ name: "model-00001-of-00002.safetensors", size: 900, sha256: "x" }], command: { cwd: "/", argv: ["r.yml", "out"] } });
		assert.deepEqual(await resumeMismatches(was, record(), NO_DIRS), []);
	});

	it("a changed recipe names the first line that differs", async () => {
		const text = RECIPE.replace("source_model: ./b", "source_model: ./c");
		const reasons = await resumeMismatches(record(), record({ recipe: { path: "/r/recipe.yml", sha256: sha256(text), text } }), NO_DIRS);
		assert.deepEqual(reasons, ['the recipe changed: line 5 was "  - source_model: ./b", is now "  - source_model: ./c"']);
		assert.equal(firstDifference("a\nb", "a\nb\nc"), 'line 3 was (no line), is now "c"');
	});

	it("each option that changes the shards' bytes is named with both values", async () => {
		const reasons = await resumeMismatches(record(), record({ options: { seed: 8, layout: "fused", shardSize: 2_000_000 } }), NO_DIRS);
		assert.deepEqual(reasons, ["--random-seed was 7, is now 8", "--layout was per-expert, is now fused", "--out-shard-size was 1000000 bytes, is now 2000000"]);
	});

	it("another tool version, or other tensors in a shard, refuse", async () => {
		assert.deepEqual(await resumeMismatches(record({ tool: "moe-merge 0.0.9" }), record(), NO_DIRS), ["it was written by moe-merge 0.0.9, this is moe-merge 0.1.0"]);
		const shards = record().shards.map((s, i) => (i === 1 ? { ...s, header: "other" } : s));
		assert.deepEqual(await resumeMismatches(record(), record({ shards }), NO_DIRS), ["the tensors planned for model-00002-of-00002.safetensors differ (names, dtypes or shapes)"]);
	});

	it("an input whose stamp changed is the same input when its recorded sha256 still matches, and named when not", async () => {
		const dir = await tempDir();
		await mkdir(join(dir, "a"));
		const file = join(dir, "a", "model.safetensors");
		await writeFile(file, "weights");
		const now = record({ inputs: [{ model: "./a", files: [{ name: "model.safetensors", stamp: await stampOf(file) }] }] });
		const dirs = new Map([["./a", join(dir, "a")]]);
		const hashed = (sha: string) => record({ inputs: [{ model: "./a", files: [{ name: "model.safetensors", stamp: "1:2:3", sha256: sha }] }] });
		assert.deepEqual(await resumeMismatches(hashed(sha256("weights")), now, dirs), [], "touched or copied, same bytes");
		const [reason] = await resumeMismatches(hashed(sha256("other")), now, dirs);
		assert.match(reason ?? "", /^\.\/a: model\.safetensors changed since the interrupted merge \(sha256 [0-9a-f]{12}…, now [0-9a-f]{12}…\)$/);
		assert.deepEqual(await resumeMismatches(record(), now, dirs), ["./a: model.safetensors changed since the interrupted merge (size, time or inode; its sha256 had not been recorded yet)"]);
	});

	it("inputs added, dropped or resolved to another Hub commit are named", async () => {
		const was = record({ inputs: [{ model: "org/a", commit: "c1", files: [{ name: "config.json", stamp: "1:1:1" }, { name: "model.safetensors", stamp: "1:1:2" }] }] });
		const now = record({
			inputs: [
				{ model: "org/a", commit: "c2", files: [{ name: "config.json", stamp: "1:1:1" }] },
				{ model: "./b", files: [] },
			],
		});
		assert.deepEqual(await resumeMismatches(was, now, NO_DIRS), [
			"org/a resolved to commit c1, now to c2",
			"org/a: model.safetensors was read by the interrupted merge and is no longer an input",
			"./b was not an input of the interrupted merge",
		]);
	});

	it("of two runs taking over the same abandoned folder, one gets it and the other is told", async () => {
		const dir = await tempDir();
		const abandoned = join(dir, ".out.moe-merge-partial-999999");
		await mkdir(abandoned);
		await writeFile(join(abandoned, "model-00001-of-00002.safetensors"), "x");
		const results = await Promise.allSettled([adoptStagingDir(join(dir, "out"), abandoned), adoptStagingDir(join(dir, "out2"), abandoned)]);
		const won = results.filter((r) => r.status === "fulfilled");
		const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
		assert.equal(won.length, 1);
		assert.equal(lost.length, 1);
		assert.ok(lost[0]!.reason instanceof OutputError);
		assert.match(lost[0]!.reason.message, /was taken over by another run/);
		assert.ok([stagingPathOf(join(dir, "out")), stagingPathOf(join(dir, "out2"))].includes((won[0] as PromiseFulfilledResult<{ path: string }>).value.path));
	});
});
