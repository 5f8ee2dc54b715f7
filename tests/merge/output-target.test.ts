/** The output-folder checks `merge` and `plan` share (src/output/output-target.ts). */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { OutputError } from "../../src/errors.js";
import { OUTPUT_SPACE_MARGIN, checkOutputTarget, freeBytes } from "../../src/output/output-target.js";
import { tempDir } from "./helpers.js";

describe("checkOutputTarget", () => {
	it("asks for the shards plus a margin for the side files", async () => {
		const dir = await tempDir();
		const free = await freeBytes(dir);
		assert.ok(free !== undefined && free > OUTPUT_SPACE_MARGIN, "the test needs a file system with some room");
		await checkOutputTarget(join(dir, "out"), { requiredBytes: 1000 });
		// Exactly the free space is not enough once the margin is added.
		await assert.rejects(checkOutputTarget(join(dir, "out"), { requiredBytes: free }), (e: unknown) => e instanceof OutputError && /not enough free space/.test(e.message));
	});

	it("names the folders interrupted merges left beside the output, their size and the commands that remove them, when the space is short", async () => {
		const dir = await tempDir();
		const free = (await freeBytes(dir))!;
		const leftovers = [{ path: join(dir, ".out.moe-merge-partial-12"), bytes: 795_000_000 }, { path: join(dir, ".out.moe-merge-partial-34"), bytes: 5_000_000 }];
		await assert.rejects(checkOutputTarget(join(dir, "out"), { requiredBytes: free, leftovers }), (e: unknown) => {
			assert.ok(e instanceof OutputError);
			assert.match(e.message, /not enough free space .*; 2 folder\(s\) left beside it by interrupted merges hold 800\.00 MB, enough once removed$/);
			assert.equal(e.hint, `remove them if you do not mean to resume them: rm -rf '${leftovers[0]!.path}'; rm -rf '${leftovers[1]!.path}'`);
			return true;
		});
		// Not enough even without them: said without "enough once removed".
		await assert.rejects(checkOutputTarget(join(dir, "out"), { requiredBytes: free + 900_000_000, leftovers }), (e: unknown) => e instanceof OutputError && /hold 800\.00 MB$/.test(e.message));
	});

	it("refuses a non-empty folder unless overwriting", async () => {
		const dir = await tempDir();
		await mkdir(join(dir, "out"));
		await writeFile(join(dir, "out", "x"), "x");
		await assert.rejects(checkOutputTarget(join(dir, "out")), (e: unknown) => e instanceof OutputError && /already exists and is not empty/.test(e.message));
		await checkOutputTarget(join(dir, "out"), { overwrite: true });
	});
});
