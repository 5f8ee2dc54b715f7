import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { CLI } from "../merge/helpers.js";
import { FIXTURES, cliEnv, runCli, startHub, tempDir } from "./helpers.js";

const hub = await startHub();
const MODELS = join(FIXTURES, "models");
let repoBytes = 0;
for (const name of ["llama-base", "llama-expert-a", "llama-expert-b"]) {
	hub.store.createRepo(`org/${name}`);
	await hub.store.commitFolder(`org/${name}`, join(MODELS, name));
	for (const file of await readdir(join(MODELS, name))) repoBytes += (await stat(join(MODELS, name, file))).size;
}

async function recipe(dir: string): Promise<string> {
	const file = join(dir, "recipe.yml");
	await writeFile(file, "base_model: org/llama-base\ngate_mode: random\nexperts:\n  - source_model: org/llama-expert-a\n  - source_model: org/llama-expert-b\n");
	return file;
}

/** Every path under the cache whose name matches. */
async function cacheFiles(cache: string, pattern: RegExp): Promise<string[]> {
	return (await readdir(cache, { recursive: true }).catch(() => [] as string[])).filter((p) => pattern.test(p));
}

describe("downloads of the same blob by several processes", () => {
	it("two merges started together fetch each blob once, the second waiting for the first", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const file = await recipe(dir);
		hub.faults.chunkDelayMs = 80;
		hub.bytesServed = 0;
		try {
			const [a, b] = await Promise.all([0, 1].map((i) => runCli([file, join(dir, `out-${i}`), "--random-seed", "1"], { env: cliEnv(hub, home) })));
			assert.equal(a!.code, 0, a!.stderr);
			assert.equal(b!.code, 0, b!.stderr);
			assert.match(a!.stderr + b!.stderr, /waiting for process \d+ .*, which is downloading org\/llama-/);
		} finally {
			hub.faults.chunkDelayMs = 0;
		}
		// Each of the 6.3 MB of files once (plus 1-byte probes), not twice.
		assert.ok(hub.bytesServed <= repoBytes + 1000, `${hub.bytesServed} bytes served for ${repoBytes} bytes of files`);
		assert.deepEqual(await cacheFiles(join(home, "hub"), /\.(incomplete|lock)$/), [], "no partial file or lock left");
	});

	it("a download killed with SIGKILL leaves its lock and part; the next run takes the lock over and resumes", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const cache = join(home, "hub");
		const file = await recipe(dir);
		hub.faults.chunkDelayMs = 100;
		const child = spawn(process.execPath, [CLI, file, join(dir, "out")], { env: cliEnv(hub, home), stdio: "ignore" });
		let partial = 0;
		try {
			// Up to 30 s: a loaded machine (CI runs two test files at once) can take seconds to start the CLI.
			for (let i = 0; i < 600 && partial < 200_000; i++) {
				await sleep(50);
				for (const p of await cacheFiles(cache, /\.incomplete$/)) partial = Math.max(partial, (await stat(join(cache, p)).catch(() => ({ size: 0 }))).size);
			}
			assert.ok(partial >= 200_000, "the download was caught in flight");
		} finally {
			child.kill("SIGKILL");
			await once(child, "exit");
			hub.faults.chunkDelayMs = 0;
		}
		assert.ok((await cacheFiles(cache, /\.moe-merge\.lock$/)).length > 0, "the killed process left its lock");
		hub.bytesServed = 0;
		const rerun = await runCli([file, join(dir, "out")], { env: cliEnv(hub, home) });
		assert.equal(rerun.code, 0, rerun.stderr);
		assert.ok(hub.bytesServed <= repoBytes - partial + 1000, `resumed: ${hub.bytesServed} bytes served, ${partial} were on disk`);
		assert.deepEqual(await cacheFiles(cache, /\.(incomplete|lock)$/), []);
		assert.equal((await runCli(["verify", join(dir, "out")])).code, 0);
	});
});
