import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { ModelWeights } from "../../src/safetensors/index.js";
import { CLI, tempDir } from "./helpers.js";

const DEMO = resolve(CLI, "..", "..", "demo", "run-demo.js");

function runDemo(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((done, reject) => {
		const child = spawn(process.execPath, [DEMO, dir]);
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		child.on("error", reject);
		child.on("close", (code) => done({ code, stdout, stderr }));
	});
}

describe("npm run demo", () => {
	it("builds four tiny models and merges them with hidden-state gates, and can run again", async () => {
		const dir = await tempDir();
		for (let run = 0; run < 2; run++) {
			const result = await runDemo(dir);
			assert.equal(result.code, 0, result.stderr);
			assert.match(result.stdout, /Mixtral with 4 experts/);
			assert.match(result.stderr, /gates: layer 3 of 3 done/);
		}
		const config = JSON.parse(await readFile(join(dir, "moe", "config.json"), "utf8"));
		assert.equal(config.num_local_experts, 4);
		const weights = await ModelWeights.open(join(dir, "moe"));
		try {
			assert.deepEqual(weights.get("model.layers.3.block_sparse_moe.gate.weight").info.shape, [4, 64]);
		} finally {
			await weights.close();
		}
	});
});
