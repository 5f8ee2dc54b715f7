/**
 * With the Hub (a hub-compatible server on 127.0.0.1): `--report --push-to-hub` titles the card after
 * the repo and pushes the report with the model; `moe-merge report org/name` downloads and reports it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import type { RoutingReport } from "../../src/report/report-data.js";
import { ALICE, FIXTURES, cliEnv, runCli, startHub, tempDir } from "../hub/helpers.js";

const RECIPE = join(FIXTURES, "recipes", "mixtral-hidden.yml");
const hub = await startHub();

test("merge --report --push-to-hub, then report org/name from the Hub", async () => {
	const home = await tempDir();
	const dir = await tempDir();
	const env = cliEnv(hub, home, { HF_TOKEN: ALICE });
	const merged = await runCli([RECIPE, join(dir, "out"), "--report", "--push-to-hub", "org/tiny-moe", "--threads", "1"], { env });
	assert.equal(merged.code, 0, merged.stderr);
	const pushed = hub.store.repos.get("org/tiny-moe")!;
	const files = [...pushed.commits.values()].at(-1)!;
	for (const name of ["report.json", "report.html", "README.md", "model.safetensors"]) assert.ok(files.has(name), `${name} pushed`);
	const card = Buffer.from(files.get("README.md")!.data).toString("utf8");
	assert.match(card, /^# tiny-moe$/m);
	assert.match(card, /model_id = "org\/tiny-moe"/);
	assert.match(card, /## Routing/);

	const reported = await runCli(["report", "org/tiny-moe", "--recipe", RECIPE, "--json", "--threads", "1"], { env, cwd: dir });
	assert.equal(reported.code, 0, reported.stderr);
	const fromHub = JSON.parse(reported.stdout) as { report: RoutingReport; files: string[] };
	assert.deepEqual(fromHub.files, [join("tiny-moe-report", "report.json"), join("tiny-moe-report", "report.html")], "into ./<name>-report");
	assert.equal(fromHub.report.model.path, "org/tiny-moe");
	const local = JSON.parse(await readFile(join(dir, "out", "report.json"), "utf8")) as RoutingReport;
	assert.deepEqual(fromHub.report.prompts, local.prompts, "the downloaded model routes like the local one");
});
