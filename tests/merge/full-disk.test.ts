import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, describe, it } from "node:test";
import { FIXTURES, runCli, tempDir, writeRecipe } from "./helpers.js";

const MODELS = join(FIXTURES, "models");
// Made here, not in a test: a folder made inside a test is removed when the test ends, before its mount is undone.
const root = await tempDir();
let disks = 0;

/** A tmpfs of `options` mounted in a fresh folder, unmounted when the test ends; undefined (with why) where the test cannot mount. */
async function smallDisk(t: TestContext, options: string): Promise<{ dir?: string; why?: string }> {
	if (process.getuid?.() !== 0) return { why: "not root, cannot mount a tmpfs" };
	const dir = join(root, `disk-${disks++}`);
	await mkdir(dir);
	try {
		execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "pipe" });
	} catch (error) {
		return { why: `cannot mount a tmpfs here: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}` };
	}
	// Unmounted when the test ends, before the temporary folder around it is removed.
	t.after(() => execFileSync("umount", [dir]));
	return { dir };
}

describe("a full disk", () => {
	// tmpfs limits inodes as well as bytes: running out of inodes gives ENOSPC at a chosen file, past the free-space check.
	for (const [inodes, where] of [[3, "creating the second shard"], [5, "writing the side files"]] as const) {
		it(`gives "no space left" and leaves nothing half-written, when it fills while ${where}`, async (t) => {
			const disk = await smallDisk(t, `size=100M,nr_inodes=${inodes}`);
			if (!disk.dir) return t.skip(disk.why);
			const recipe = await writeRecipe(root, {
				base: join(MODELS, "llama-base"),
				experts: [{ model: join(MODELS, "llama-expert-a") }, { model: join(MODELS, "llama-expert-b") }],
			});
			const result = await runCli([recipe, join(disk.dir, "out"), "--out-shard-size", "1M"]);
			assert.equal(result.code, 1, result.stderr);
			assert.match(result.stderr, new RegExp(`(no space left on|ENOSPC).*${disk.dir}/\\.out\\.moe-merge-partial-\\d+/`));
			assert.doesNotMatch(result.stderr, /internal error|^\s+at /m);
			assert.deepEqual(await readdir(disk.dir), [], "no output and no partial folder");
		});
	}
});
