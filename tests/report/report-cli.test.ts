/**
 * `moe-merge recipe.yml out --report` and `moe-merge report` end to end on the tiny fixture models
 * (Mistral tokenizer), and report.html in a real headless Chromium: every chart drawn, no console
 * errors, no network requests.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { RoutingReport } from "../../src/report/report-data.js";
import { DENSE, FIXTURES, runCli, tempDir } from "../merge/helpers.js";
import { findChromium, HeadlessPage } from "./headless-chromium.js";

const RECIPE = join(FIXTURES, "recipes", "mixtral-hidden.yml");
// At top level, so the folder's clean-up belongs to the whole file.
const out = join(await tempDir("moe-merge-report-"), "moe");
let merged: { code: number | null; stdout: string; stderr: string };

before(async () => {
	merged = await runCli([RECIPE, out, "--report", "--threads", "1"]);
});

const readReport = async (dir: string): Promise<RoutingReport> => JSON.parse(await readFile(join(dir, "report.json"), "utf8")) as RoutingReport;

describe("moe-merge recipe.yml out --report", () => {
	test("writes report.json with the documented shape and prints the summary", async () => {
		assert.equal(merged.code, 0, merged.stderr);
		const report = await readReport(out);
		assert.equal(report.prompts.length, 7, "the recipe's 7 positive prompts");
		assert.deepEqual(report.prompts.map((p) => p.expert), [0, 0, 1, 1, 1, 2, 2]);
		for (const p of report.prompts) {
			assert.equal(p.token_ids[0], 1, "bos first, as the gates were built");
			assert.equal(p.tokens.length, p.token_ids.length);
			assert.deepEqual(p.layers.map((l) => l.layer), [0, 1]);
			for (const l of p.layers) {
				assert.equal(l.router_probs.length, p.token_ids.length);
				for (const row of l.router_probs) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
				// top-k = the two largest probabilities, largest first.
				l.experts.forEach((top, t) => {
					const order = [0, 1, 2].sort((a, b) => l.router_probs[t]![b]! - l.router_probs[t]![a]!);
					assert.deepEqual(top, order.slice(0, 2));
				});
			}
			assert.equal(p.next_tokens.length, 5);
			assert.ok(p.next_tokens.every((t) => t.probability >= 0 && t.probability <= 1));
		}
		const wins = report.prompts.filter((p) => p.own_expert_wins).length;
		assert.equal(report.routing_agreement, wins / 7);
		assert.match(merged.stdout, new RegExp(`routing agreement: ${Math.round((wins / 7) * 100)}% \\(${wins} of 7 prompts`));
		assert.match(merged.stdout, /layer 1: closest experts \d~\d/);
		assert.match(merged.stdout, /^wrote .* MB in/m);
		await access(join(out, "report.html"));
	});

	test("the report is part of the output: in its lock, and summarised in the model card", async () => {
		const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8")) as { output: { files: { path: string }[] } };
		const locked = lock.output.files.map((f) => f.path);
		for (const name of ["report.json", "report.html", "README.md"]) assert.ok(locked.includes(name), `${name} in the lock`);
		const report = await readReport(out);
		assert.equal(report.model.path, out, "the report names the final folder, not the staging one");
		const card = await readFile(join(out, "README.md"), "utf8");
		assert.ok(card.indexOf("## Routing") > 0 && card.indexOf("## Routing") < card.indexOf("## Usage"));
		assert.ok(card.includes(`**routing agreement ${Math.round(report.routing_agreement! * 100)}%**`));
	});

	test("`report` reruns it with extra prompts into another folder, as JSON", async () => {
		const dir = await tempDir();
		const prompts = join(dir, "prompts.txt");
		await writeFile(prompts, "The capital of France is\n\nfor i in range(10):\n");
		const run = await runCli(["report", out, "--prompts", prompts, "-o", join(dir, "r"), "--json", "--threads", "1"]);
		assert.equal(run.code, 0, run.stderr);
		const printed = JSON.parse(run.stdout) as { report: RoutingReport; files: string[] };
		assert.deepEqual(printed.report.prompts.slice(7).map((p) => [p.text, p.expert, p.own_expert_wins]), [
			["The capital of France is", null, null],
			["for i in range(10):", null, null],
		]);
		assert.deepEqual(printed.report, await readReport(join(dir, "r")));
		// The same model and prompts give the same routing as the report written after the merge.
		assert.deepEqual(printed.report.prompts.slice(0, 7), (await readReport(out)).prompts);
	});

	test("by default `report` writes into ./<name>-report and leaves the model folder (and its lock) alone", async () => {
		const cwd = await tempDir();
		const before = (await readdir(out)).sort();
		const run = await runCli(["report", out, "--threads", "1"], { cwd });
		assert.equal(run.code, 0, run.stderr);
		assert.deepEqual((await readdir(out)).sort(), before);
		assert.deepEqual((await readReport(join(cwd, "moe-report"))).prompts, (await readReport(out)).prompts);
		const verified = await runCli(["verify", out]);
		assert.equal(verified.code, 0, verified.stdout + verified.stderr);
	});

	test("a model folder without a tokenizer is refused with exit 1, naming tokenizer.json", async () => {
		const dir = await tempDir();
		const run = await runCli(["report", join(FIXTURES, "report", "mixtral-per-expert"), "--recipe", RECIPE, "-o", join(dir, "r")]);
		assert.equal(run.code, 1, run.stderr);
		assert.match(run.stderr, /mixtral-per-expert\/tokenizer\.json: missing: the report tokenizes its prompts with the model's own tokenizer/);
		await assert.rejects(access(join(dir, "r")));
	});

	test("a dense model is refused with exit 1, naming its config.json, and nothing is written", async () => {
		const dir = await tempDir();
		const prompts = join(dir, "p.txt");
		await writeFile(prompts, "hello\n");
		const run = await runCli(["report", join(DENSE, "mistral-sliding", "base"), "--prompts", prompts, "-o", join(dir, "r")]);
		assert.equal(run.code, 1);
		assert.match(run.stderr, /mistral-sliding\/base\/config\.json: model_type "mistral" is not an MoE architecture/);
		assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace without --verbose");
		await assert.rejects(access(join(dir, "r")));
	});
});

test("--report with --no-copy-tokenizer is refused before merging: exit 1, no output", async () => {
	const dir = await tempDir();
	const run = await runCli([RECIPE, join(dir, "out"), "--report", "--no-copy-tokenizer"]);
	assert.equal(run.code, 1);
	assert.match(run.stderr, /--report needs the tokenizer in the output/);
	await assert.rejects(access(join(dir, "out")));
});

test("--report with a base model that has no tokenizer is refused before merging: exit 1, no output", async () => {
	const dir = await tempDir();
	const sliding = join(DENSE, "mistral-sliding");
	const recipe = join(dir, "recipe.yml");
	const experts = ["expert-a", "expert-b"].map((e) => `- source_model: ${join(sliding, e)}\n  positive_prompts: [hello]`);
	await writeFile(recipe, `base_model: ${join(sliding, "base")}\ngate_mode: random\nexperts:\n${experts.join("\n")}\n`);
	const run = await runCli([recipe, join(dir, "out"), "--report"]);
	assert.equal(run.code, 1, run.stderr);
	assert.match(run.stderr, /routing report \(--report\): .*mistral-sliding\/base/);
	await assert.rejects(access(join(dir, "out")));
	assert.deepEqual((await readdir(dir)).sort(), ["recipe.yml"], "no staging folder either");
});

describe("report.html in headless Chromium", () => {
	const chromium = findChromium();
	test("renders every chart with no console errors and no network requests, switches layers, prints", { skip: chromium ? false : "chromium is not installed (apt-get install chromium); .ci/run installs it" }, async () => {
		const report = await readReport(out);
		const page = await HeadlessPage.launch(chromium!);
		try {
			await Promise.all(["Runtime.enable", "Log.enable", "Network.enable", "Page.enable"].map((m) => page.send(m)));
			const url = pathToFileURL(join(out, "report.html")).href;
			const loaded = page.waitFor("Page.loadEventFired");
			await page.send("Page.navigate", { url });
			await loaded;
			const E = report.model.experts;
			const tokens = report.prompts.reduce((n, p) => n + p.token_ids.length, 0);
			const counts = await page.evaluate<Record<string, number>>(`({
				heatmaps: document.querySelectorAll("svg.heatmap").length,
				heatCells: document.querySelectorAll("svg.heatmap .cell rect").length,
				simCells: document.querySelectorAll("svg.similarity .cell rect").length,
				tokens: document.querySelectorAll(".token").length,
				drawn: [...document.querySelectorAll("svg.matrix")].filter((s) => s.getBoundingClientRect().width > 0).length,
			})`);
			assert.deepEqual(counts, { heatmaps: 7, heatCells: 7 * 2 * E, simCells: E * E, tokens, drawn: 8 });
			// The layer switch recolours the token view with that layer's top expert.
			const labels = await page.evaluate<string[]>(`(() => {
				const view = document.querySelector(".tokens");
				const select = view.querySelector("select");
				select.value = "1";
				select.dispatchEvent(new Event("change"));
				return [...view.querySelectorAll(".token sub")].map((s) => s.textContent);
			})()`);
			assert.deepEqual(labels, report.prompts[0]!.layers[1]!.experts.map((top) => `e${top[0]}`));
			const pdf = (await page.send("Page.printToPDF")) as { data: string };
			assert.ok(Buffer.from(pdf.data, "base64").subarray(0, 5).toString() === "%PDF-");
			const errors = page.events.filter((e) =>
				e.method === "Runtime.exceptionThrown" ||
				(e.method === "Runtime.consoleAPICalled" && e.params.type === "error") ||
				(e.method === "Log.entryAdded" && (e.params.entry as { level: string }).level === "error"));
			assert.deepEqual(errors, []);
			const requests = page.events.filter((e) => e.method === "Network.requestWillBeSent").map((e) => (e.params.request as { url: string }).url);
			assert.deepEqual(requests.filter((u) => u !== url), [], "no request but the page itself");
			if (process.env.MOE_MERGE_SCREENSHOTS) await screenshots(page, process.env.MOE_MERGE_SCREENSHOTS);
		} finally {
			await page.close();
		}
	});
});

/** Developer aid for docs/: MOE_MERGE_SCREENSHOTS=docs/images writes PNGs of the page's parts. */
async function screenshots(page: HeadlessPage, dir: string): Promise<void> {
	await page.send("Emulation.setDeviceMetricsOverride", { width: 1000, height: 800, deviceScaleFactor: 1, mobile: false });
	for (const [name, selector] of [["report-prompt", "#prompt-2"], ["report-similarity", "#similarity"]]) {
		const box = await page.evaluate<{ x: number; y: number; width: number; height: number }>(
			`(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height }; })()`);
		const shot = (await page.send("Page.captureScreenshot", { format: "png", clip: { ...box, scale: 1 }, captureBeyondViewport: true })) as { data: string };
		await writeFile(join(dir, `${name}.png`), Buffer.from(shot.data, "base64"));
	}
}
