import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ALICE, ROPE, cliEnv, findSecret, readTree, runCli, startHub, tempDir } from "./helpers.js";

const hub = await startHub();
hub.store.createRepo("org/base");
const baseCommit = await hub.store.commitFolder("org/base", ROPE.base);
hub.store.createRepo("org/expert-a");
await hub.store.commitFolder("org/expert-a", ROPE.a);
hub.store.createRepo("org/expert-b");
await hub.store.commitFolder("org/expert-b", ROPE.b);

async function hubRecipe(dir: string): Promise<string> {
	const file = join(dir, "recipe.yml");
	await writeFile(file, `base_model: org/base@${baseCommit}\ngate_mode: random\nexperts:\n  - source_model: org/expert-a\n  - source_model: org/expert-b@main\n`);
	return file;
}

/** Everything a run left behind that a user or the Hub could see: output, logs, cache, lock, pushed files, URLs. */
async function everything(dirs: string[], run: { stdout: string; stderr: string }): Promise<Map<string, string | Buffer>> {
	const all = new Map<string, string | Buffer>([
		["stdout", run.stdout],
		["stderr", run.stderr],
		["request URLs", hub.requests.map((r) => `${r.host}${r.path}`).join("\n")],
	]);
	for (const dir of dirs) for (const [path, bytes] of await readTree(dir)) if (!path.endsWith("token")) all.set(join(dir, path), bytes);
	for (const repo of hub.store.repos.values()) for (const sha of repo.commits.keys()) for (const [path, file] of repo.commits.get(sha) ?? []) all.set(`hub:${repo.id}/${path}`, file.data);
	return all;
}

describe("the CLI with the Hub", () => {
	it("validate reads the configs of Hub models without downloading their weights", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const recipe = await hubRecipe(dir);
		const before = hub.requests.length;
		const run = await runCli(["validate", recipe, "--json"], { env: cliEnv(hub, home) });
		assert.equal(run.code, 0, run.stderr);
		assert.equal(JSON.parse(run.stdout).recipes[0].architecture, "Mixtral");
		const fetched = hub.requests.slice(before).map((r) => r.path);
		assert.ok(fetched.some((p) => p.endsWith("/config.json")), `config.json fetched: ${fetched.join(" ")}`);
		assert.deepEqual(fetched.filter((p) => p.includes(".safetensors")), [], "no weights downloaded");
	});

	it("plan reads Hub models' headers without downloading their weights, and refuses two output folders as merge does", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const recipe = await hubRecipe(dir);
		const run = await runCli(["plan", recipe], { env: cliEnv(hub, home) });
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stdout, /org\/expert-a/);
		assert.doesNotMatch(run.stderr, /downloading org\/expert-a: 100%/);
		// --gguf: the Hub base's tokenizer files are not downloaded by plan, which says so instead of failing.
		const gguf = await runCli(["plan", recipe, "--gguf", "f16"], { env: cliEnv(hub, home) });
		assert.equal(gguf.code, 0, gguf.stderr);
		assert.match(gguf.stdout, /warning: --gguf: the GGUF files are not planned: plan does not download org\/base@[0-9a-f]+'s tokenizer files/);
		for (const command of ["plan", "merge"]) {
			const two = await runCli([command, recipe, join(dir, "a"), "-o", join(dir, "b")], { env: cliEnv(hub, home) });
			assert.equal(two.code, 1, `${command}: ${two.stderr}`);
			assert.match(two.stderr, /two output folders given/);
		}
	});

	it("merges Hub models, pushes the result, and the token shows up nowhere", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const recipe = await hubRecipe(dir);
		const out = join(dir, "out");
		const args = [recipe, out, "--push-to-hub", "alice/cli-moe", "--random-seed", "5", "--out-shard-size", "150K", "--json", "--verbose"];
		const before = hub.requests.length;
		const run = await runCli(args, { env: cliEnv(hub, home, { HF_TOKEN: ALICE }) });
		assert.equal(run.code, 0, run.stderr);
		// The push is checked before merging and not again after: one whoami per run.
		assert.equal(hub.requests.slice(before).filter((r) => r.path.includes("/whoami")).length, 1);
		const summary = JSON.parse(run.stdout);
		assert.equal(summary.push.repo, "alice/cli-moe");
		assert.equal(summary.push.commit, hub.store.mustGet("alice/cli-moe").refs.get("main"));
		assert.equal(summary.sources[0].commit, baseCommit);
		assert.equal(summary.recipeLockFile, join(dir, "recipe.lock.json"));
		assert.ok(hub.store.tree("alice/cli-moe").has("moe-merge.lock.json"));
		assert.deepEqual(findSecret(ALICE, await everything([dir, home], run)), []);
		assert.deepEqual(
			hub.requests.filter((r) => r.host.startsWith("localhost") && r.authorization),
			[],
			"no credentials sent to LFS storage",
		);

		// The lock now beside the recipe lets a --locked merge through.
		const locked = await runCli([recipe, join(dir, "again"), "--locked", "--json"], { env: cliEnv(hub, home) });
		assert.equal(locked.code, 0, locked.stderr);
	});

	it("`moe-merge push` uploads a folder with the token from HF_TOKEN_PATH, with progress lines", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const recipe = await hubRecipe(dir);
		const out = join(dir, "out");
		const tokenFile = join(home, "my-token");
		await writeFile(tokenFile, `${ALICE}\n`);
		const env = cliEnv(hub, home, { HF_TOKEN_PATH: tokenFile });
		assert.equal((await runCli([recipe, out, "--random-seed", "1"], { env })).code, 0);
		const run = await runCli(["push", out, "alice/cli-push"], { env });
		assert.equal(run.code, 0, run.stderr);
		assert.match(run.stdout, new RegExp(`^pushed \\d+ files \\(.*\\) to ${hub.url}/alice/cli-push \\(commit [0-9a-f]{40}\\)`));
		assert.match(run.stderr, /uploading alice\/cli-push: 100%/);
		assert.deepEqual(findSecret(ALICE, await everything([dir, home], run)), []);
	});

	it("errors with --json and --verbose: a refused token is named by its file, never printed", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const revoked = "hf_revokedButStillSecret0123456789";
		const tokenFile = join(home, "token");
		await writeFile(tokenFile, revoked);
		await writeFile(join(dir, "config.json"), "{}");
		await writeFile(join(dir, "model.safetensors"), "not checked before the token is");
		hub.faults.echoToken = true;
		try {
			const run = await runCli(["push", dir, "alice/nope", "--json", "--verbose"], { env: cliEnv(hub, home) });
			assert.equal(run.code, 1);
			const report = JSON.parse(run.stdout);
			assert.equal(report.errors[0].kind, "HubError");
			assert.match(report.errors[0].message, new RegExp(`the Hub refused the token from ${tokenFile.replace(/[/.]/g, "\\$&")}`));
			assert.deepEqual(findSecret(revoked, await everything([dir, home], run)), []);
		} finally {
			hub.faults.echoToken = false;
		}
	});

	it("HF_HUB_OFFLINE=1: a model missing from the cache stops the merge with a clear message, without a request", async () => {
		const dir = await tempDir();
		const home = await tempDir();
		const recipe = await hubRecipe(dir);
		hub.takeRequests();
		const run = await runCli([recipe, join(dir, "out")], { env: cliEnv(hub, home, { HF_HUB_OFFLINE: "1" }) });
		assert.equal(run.code, 1);
		assert.match(run.stderr, /org\/base@[0-9a-f]{40} is not in the local Hugging Face cache .*HF_HUB_OFFLINE/);
		assert.match(run.stderr, /hint: unset HF_HUB_OFFLINE/);
		assert.deepEqual(hub.takeRequests(), []);
	});
});
