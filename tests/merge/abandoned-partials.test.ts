import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { caseModels, runCli, tempDir, writeRecipe } from "./helpers.js";

const rope = caseModels("llama-rope-llama3");

/** The pid of a process that has exited. */
function deadPid(): number {
	const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
	return Number(child.stdout);
}

describe("partial folders of killed runs", () => {
	it("are reported by the next merge and plan with their size and the command that removes them, and left alone", async () => {
		const dir = await tempDir();
		const pid = deadPid();
		const abandoned = join(dir, `.out.moe-merge-partial-${pid}`);
		await mkdir(join(abandoned, "sub"), { recursive: true });
		await writeFile(join(abandoned, "model-00001-of-00002.safetensors"), Buffer.alloc(3000));
		await writeFile(join(abandoned, "sub", "x"), Buffer.alloc(500));
		// A partial folder of a process that still runs (this one) is another merge at work: not reported.
		await mkdir(join(dir, `.out.moe-merge-partial-${process.pid}`));
		await mkdir(join(dir, `.other.moe-merge-partial-${pid}`));
		const recipe = await writeRecipe(dir, { base: rope.base, experts: [{ model: rope.a }, { model: rope.b }] });
		const expected = new RegExp(`warning: ${abandoned.replaceAll(".", "\\.")} \\(3\\.50 KB\\) was left by process ${pid}, which is no longer running; remove it with: rm -rf '${abandoned.replaceAll(".", "\\.")}'`);

		const plan = await runCli(["plan", recipe, join(dir, "out")]);
		assert.equal(plan.code, 0, plan.stderr);
		assert.match(plan.stdout, expected);
		const merge = await runCli([recipe, join(dir, "out")]);
		assert.equal(merge.code, 0, merge.stderr);
		assert.match(merge.stderr, expected);
		assert.equal(merge.stderr.match(/was left by process/g)?.length, 1, "only the dead process's folder of this output");
		assert.ok((await readdir(dir)).includes(`.out.moe-merge-partial-${pid}`), "reported, not deleted");
		// The summary says so again, with the command that removes it (--json: in `leftovers`).
		assert.match(merge.stdout, new RegExp(`still beside it: ${abandoned.replaceAll(".", "\\.")} \\(3\\.50 KB\\), left by an interrupted merge; remove it with: rm -rf '${abandoned.replaceAll(".", "\\.")}'`));
		const json = await runCli([recipe, join(dir, "out"), "--json", "--overwrite"]);
		assert.equal(json.code, 0, json.stderr);
		assert.deepEqual(JSON.parse(json.stdout).leftovers, [{ path: abandoned, bytes: 3500, remove: `rm -rf '${abandoned}'` }]);
	});
});
