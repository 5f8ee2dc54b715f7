/**
 * A hostile Hub-compatible server (the test hub with some answers taken over, or a socket that never
 * answers) against the CLI, as issue 17 tried it. Every case must end in exit 1 with a clear message,
 * no token in stdout, stderr or --json, an error long before a minute, and a peak RSS under 300 MB
 * (measured in the child with getrusage, see rss-probe.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cp, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Socket, createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openPushFiles } from "../../src/hub/push-files.js";
import { CLI } from "../merge/helpers.js";
import { ALICE, ROPE, cliEnv, startHub, tempDir } from "./helpers.js";

const hub = await startHub();
for (const [id, dir] of [
	["org/expert-a", ROPE.a],
	["org/expert-b", ROPE.b],
] as const) {
	hub.store.createRepo(id);
	await hub.store.commitFolder(id, dir);
}
/** Each hostile case gets its own base repo, whose answers it takes over. */
async function hostileRepo(name: string): Promise<string> {
	const id = `org/${name}`;
	hub.store.createRepo(id);
	await hub.store.commitFolder(id, ROPE.base);
	return id;
}

const PROBE = pathToFileURL(resolve(dirname(fileURLToPath(import.meta.url)), "rss-probe.js")).href;

interface MeasuredRun {
	code: number | null;
	stdout: string;
	stderr: string;
	seconds: number;
	peakMb: number;
}

/** The CLI in a child process, with its duration and peak resident memory. */
async function measured(args: string[], env: NodeJS.ProcessEnv): Promise<MeasuredRun> {
	const rssFile = join(await tempDir(), "rss");
	const started = performance.now();
	const child = spawn(process.execPath, ["--import", PROBE, CLI, ...args], { env: { ...env, MOE_TEST_RSS_FILE: rssFile } });
	let stdout = "";
	let stderr = "";
	child.stdout.on("data", (d) => (stdout += d));
	child.stderr.on("data", (d) => (stderr += d));
	const [code] = (await once(child, "close")) as [number | null];
	const peakMb = Number(await readFile(rssFile, "utf8")) / 1024;
	return { code, stdout, stderr, seconds: (performance.now() - started) / 1000, peakMb };
}

/** What a run said: stderr, and with --json the messages and hints of its report. */
function said(run: MeasuredRun): string {
	const found: string[] = [];
	try {
		JSON.stringify(JSON.parse(run.stdout), (key, value) => {
			if ((key === "message" || key === "hint") && typeof value === "string") found.push(value);
			return value;
		});
	} catch {
		// not --json
	}
	return [run.stderr, ...found].join("\n");
}

/** The check: exit 1 with the message, no stack, no token anywhere, bounded time and memory. */
function assertRefused(run: MeasuredRun, message: RegExp, t: { diagnostic(message: string): void }): void {
	const text = said(run);
	t.diagnostic(`exit ${run.code} after ${run.seconds.toFixed(1)} s, peak RSS ${run.peakMb.toFixed(0)} MB: ${text.trim().split("\n")[0]}`);
	assert.equal(run.code, 1, run.stderr);
	assert.match(text, message);
	assert.doesNotMatch(text, /internal error|\n\s+at /);
	for (const [where, text] of [
		["stdout", run.stdout],
		["stderr", run.stderr],
	]) {
		assert.ok(!text.includes(ALICE), `the token shows in ${where}: ${text}`);
	}
	assert.ok(run.seconds < 60, `an error within a minute (${run.seconds} s)`);
	assert.ok(run.peakMb < 300, `peak memory ${run.peakMb} MB`);
}

/** A recipe whose base is `base` and whose experts are the test hub's good repos. */
async function recipeWith(base: string, expert = "org/expert-a"): Promise<string> {
	const file = join(await tempDir(), "recipe.yml");
	await writeFile(file, `base_model: ${base}\ngate_mode: random\nexperts:\n  - source_model: ${expert}\n  - source_model: org/expert-b\n`);
	return file;
}

/** `validate --json` of that recipe against the test hub, with Alice's token. */
async function validate(base: string, extraEnv: NodeJS.ProcessEnv = {}, expert?: string): Promise<MeasuredRun> {
	return measured(["validate", await recipeWith(base, expert), "--json"], cliEnv(hub, await tempDir(), { HF_TOKEN: ALICE, ...extraEnv }));
}

/** Takes over the answers to paths starting with `prefix` for this test. */
function takeOver(prefix: string, answer: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | void): void {
	hub.faults.intercept = (req, res, url) => (url.pathname.startsWith(prefix) ? answer(req, res, url) !== false : false);
}

function sendJson(res: ServerResponse, body: unknown, status = 200): void {
	const text = JSON.stringify(body);
	res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)) });
	res.end(text);
}

const OID = "a".repeat(40);

describe("a hostile Hub", { concurrency: false }, () => {
	it("echoes the Authorization value as the commit of a 200 model info: refused, token not printed", async (t) => {
		const repo = await hostileRepo("evil-sha");
		takeOver(`/api/models/${repo}/revision/`, (req, res) => sendJson(res, { _id: "x", id: repo, sha: req.headers.authorization }));
		const run = await validate(repo);
		assertRefused(run, /org\/evil-sha@main: the Hub did not say which commit this revision is \(got "Bearer hf_\*\*\*"\)/, t);
		assert.equal(JSON.parse(run.stdout).ok, false);
	});

	it("echoes the token as a tree entry's path, or as its oid: the listing is refused, token not printed", async (t) => {
		const repo = await hostileRepo("evil-tree");
		const config = { type: "file", path: "config.json", size: 10, oid: OID };
		for (const [entry, message] of [
			[(auth: string) => ({ type: "file", path: `${auth.slice(7)}.safetensors`, size: 10, oid: OID }), /a file name holding your access token, "hf_\*\*\*\.safetensors"/],
			[(auth: string) => ({ type: "file", path: "model.safetensors", size: 10, oid: auth }), /the git object id "Bearer hf_\*\*\*"/],
			[(auth: string) => ({ type: "file", path: "model.safetensors", size: 10, oid: OID, lfs: { oid: auth, size: 10 } }), /the LFS sha256 "Bearer hf_\*\*\*"/],
		] as const) {
			takeOver(`/api/models/${repo}/tree/`, (req, res) => sendJson(res, [config, entry(String(req.headers.authorization))]));
			assertRefused(await validate(repo), message, t);
		}
	});

	it("serves a config.json holding the token: the error quoting it is printed without it", async (t) => {
		const id = "org/evil-config-value";
		hub.store.createRepo(id);
		const config = JSON.parse(await readFile(join(ROPE.base, "config.json"), "utf8"));
		await hub.store.commitFolder(id, ROPE.base, { extra: { "config.json": JSON.stringify({ ...config, model_type: ALICE }) } });
		hub.faults.intercept = undefined;
		const run = await validate(id);
		assertRefused(run, /the base model org\/evil-config-value has hf_\*\*\*/, t);
	});

	it("answers 200 with something that is not JSON: exit 1 without the body's text", async (t) => {
		const repo = await hostileRepo("evil-html");
		takeOver(`/api/models/${repo}/revision/`, (req, res) => {
			res.writeHead(200, { "Content-Type": "application/json" });
			res.end(`<html>captive portal SECRET-BODY ${req.headers.authorization}</html>`);
		});
		const run = await validate(repo);
		assertRefused(run, /org\/evil-html@main: the Hub sent something that is not JSON/, t);
		assert.ok(!run.stderr.includes("SECRET-BODY") && !run.stdout.includes("SECRET-BODY"));
	});

	it("answers JSON of the wrong shape (a null model info, an object for a listing): exit 1, not a crash", async (t) => {
		const repo = await hostileRepo("evil-shape");
		takeOver(`/api/models/${repo}/revision/`, (_req, res) => sendJson(res, null));
		assertRefused(await validate(repo), /org\/evil-shape@main: unexpected answer from http:\/\/127\.0\.0\.1:\d+ \(its JSON is not in the expected form/, t);
		takeOver(`/api/models/${repo}/tree/`, (_req, res) => sendJson(res, { entries: "no" }));
		assertRefused(await validate(repo), /org\/evil-shape@main: unexpected answer from .*its JSON is not in the expected form/, t);
	});

	it("lists a file whose name holds a NUL: refused like the other bad names", async (t) => {
		const repo = await hostileRepo("evil-nul");
		takeOver(`/api/models/${repo}/tree/`, (_req, res) =>
			sendJson(res, [
				{ type: "file", path: "config.json", size: 10, oid: OID },
				{ type: "file", path: "model\u0000.safetensors", size: 10, oid: OID },
			]),
		);
		assertRefused(await validate(repo), /a file name that is not a plain file name "model\\u0000\.safetensors"/, t);
	});

	it("refuses an invalid revision before any request", async (t) => {
		hub.takeRequests();
		const run = await validate("org/expert-b", {}, "org/expert-a@../../main");
		assertRefused(run, /"org\/expert-a@\.\.\/\.\.\/main" has an invalid revision "\.\.\/\.\.\/main" \("\.\." is not allowed\)/, t);
		assert.deepEqual(hub.takeRequests(), [], "no request");
	});

	it("sends a 600 MB model info: refused at 16 MB while it streams", async (t) => {
		const repo = await hostileRepo("evil-huge");
		takeOver(`/api/models/${repo}/revision/`, (_req, res) => {
			res.writeHead(200, { "Content-Type": "application/json" });
			const piece = Buffer.alloc(1 << 20, 0x61);
			let sent = 0;
			res.write('{"sha":"');
			const more = () => {
				while (sent < 600 && !res.destroyed) {
					sent++;
					if (!res.write(piece)) return void res.once("drain", more);
				}
				res.end('"}');
			};
			res.on("error", () => {});
			more();
		});
		const run = await validate(repo);
		assertRefused(run, /org\/evil-huge@main: the answer is larger than 16\.00 MB, the most moe-merge reads for it \(GET 127\.0\.0\.1:\d+\/api\/models\/org\/evil-huge\/revision\/main\)/, t);
	});

	it("lists a 1 GB config.json: refused before downloading it", async (t) => {
		const repo = await hostileRepo("evil-config");
		takeOver(`/api/models/${repo}/tree/`, (_req, res) =>
			sendJson(res, [
				{ type: "file", path: "config.json", size: 1_000_000_000, oid: OID },
				{ type: "file", path: "model.safetensors", size: 10, oid: OID, lfs: { oid: "b".repeat(64), size: 10 } },
			]),
		);
		assertRefused(await validate(repo), /org\/evil-config@main: the repo lists config\.json at 1\.00 GB, over the 16\.00 MB limit for a model config; refusing to download it/, t);
	});

	it("a local config.json of 1 GB, or one that is /dev/zero, is refused after reading at most its limit", async (t) => {
		for (const make of [(file: string) => truncate(file, 1_000_000_000), (file: string) => rm(file).then(() => symlink("/dev/zero", file))]) {
			const model = join(await tempDir(), "base");
			await cp(ROPE.base, model, { recursive: true });
			await make(join(model, "config.json"));
			const run = await measured(["validate", await recipeWith(model)], cliEnv(hub, await tempDir()));
			assertRefused(run, /config\.json: (1\.00 GB|larger than that), over the 16\.00 MB limit for a model config/, t);
		}
	});

	it("never answers: our metadata timeout ends it and says how to raise it", async (t) => {
		const sockets = new Set<Socket>();
		const silent = createServer((socket) => sockets.add(socket));
		silent.listen(0, "127.0.0.1");
		await once(silent, "listening");
		after(() => {
			for (const s of sockets) s.destroy();
			silent.close();
		});
		const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
		// A merge: validate counts a Hub out of reach (refused, unreachable, silent) as "needs the Hub", not a failure.
		const recipe = await recipeWith("org/base");
		const run = await measured([recipe, join(dirname(recipe), "out"), "--json"], {
			...cliEnv(hub, await tempDir(), { HF_TOKEN: ALICE, HF_HUB_ETAG_TIMEOUT: "1" }),
			HF_ENDPOINT: url,
		});
		assertRefused(run, /org\/base@main: no answer within 1 s \(GET 127\.0\.0\.1:\d+\/api\/models\/org\/base\/revision\/main\)/, t);
		assert.match(said(run), /HF_HUB_ETAG_TIMEOUT=60 \(seconds, now 1\)/);
	});

	it("stalls in the middle of a file: resumed once, then our download timeout names the file", async (t) => {
		const repo = await hostileRepo("evil-stall");
		const data = hub.store.tree(repo).get("config.json")?.data as Buffer;
		let attempts = 0;
		takeOver(`/${repo}/resolve/`, (req, res, url) => {
			// The download probe (Range 0-0) gets its answer; the bytes stop halfway and never come again.
			if (!url.pathname.endsWith("/config.json") || req.headers.range === "bytes=0-0") return false;
			attempts++;
			if (req.headers.range) {
				res.writeHead(206, { "Content-Range": `bytes ${data.length >> 1}-${data.length - 1}/${data.length}`, "Content-Length": String(data.length - (data.length >> 1)) });
				res.flushHeaders();
				return;
			}
			res.writeHead(200, { "Content-Length": String(data.length) });
			res.write(data.subarray(0, data.length >> 1));
		});
		const run = await validate(repo, { HF_HUB_DOWNLOAD_TIMEOUT: "1" });
		assertRefused(run, /org\/evil-stall@main: config\.json: the answer stalled: nothing came for 1 s/, t);
		assert.match(said(run), /\d+ of \d+ bytes are kept; run again to resume from there\. .*HF_HUB_DOWNLOAD_TIMEOUT=60/);
		assert.equal(attempts, 2, "the stall that brought bytes is resumed, the one that brought none is not");
	});

	it("rate-limits with Retry-After: the wait is shown and honoured; a wait too long ends the run at once", async (t) => {
		const repo = await hostileRepo("evil-429");
		let limited = 1;
		takeOver(`/api/models/${repo}/revision/`, (_req, res) => {
			if (limited-- <= 0) return false;
			res.writeHead(429, { "Retry-After": "1", "Content-Type": "application/json" });
			res.end('{"error":"slow down"}');
		});
		const ok = await validate(repo);
		assert.equal(ok.code, 0, ok.stderr);
		assert.match(ok.stderr, /answered 429 \(too many requests\) to GET 127\.0\.0\.1:\d+\/api\/models\/org\/evil-429\/revision\/main; waiting 1 s as it asks \(Retry-After\), then trying again \(1 of 5\)/);

		takeOver(`/api/models/${repo}/revision/`, (_req, res) => {
			res.writeHead(503, { "Retry-After": "3600" });
			res.end();
		});
		assertRefused(await validate(repo), /org\/evil-429@main: the server answered 503 \(service unavailable\) to GET \S+ and asks to wait 3600 s before trying again, longer than moe-merge waits \(60 s\)/, t);
	});
});

describe("pushing a folder with symbolic links", () => {
	async function modelFolder(): Promise<string> {
		const dir = join(await tempDir(), "model");
		await cp(ROPE.base, dir, { recursive: true });
		return dir;
	}

	it("refuses links that lead out of the folder, by name, and pushes nothing", async (t) => {
		hub.faults.intercept = undefined;
		const dir = await modelFolder();
		const outside = join(await tempDir(), "secret.bin");
		await writeFile(outside, "outside bytes");
		await symlink("/etc/hostname", join(dir, "hostname.txt"));
		await symlink(outside, join(dir, "zz.safetensors"));
		await symlink(join(dir, "missing"), join(dir, "dangling.json"));
		hub.takeRequests();
		const run = await measured(["push", dir, "alice/linked", "--json"], cliEnv(hub, await tempDir(), { HF_TOKEN: ALICE }));
		assertRefused(run, /hostname\.txt is a symbolic link to \/etc\/hostname, outside the folder/, t);
		assert.match(run.stderr, /zz\.safetensors is a symbolic link to .*secret\.bin, outside the folder/);
		assert.match(run.stderr, /dangling\.json is a symbolic link to .*missing, which does not exist/);
		assert.deepEqual(hub.takeRequests(), [], "nothing sent");
		assert.equal(hub.store.repos.has("alice/linked"), false);
	});

	it("uploads a link that stays inside the folder with its target's bytes", async () => {
		const dir = await modelFolder();
		await symlink("config.json", join(dir, "copy-of-config.json"));
		const run = await measured(["push", dir, "alice/inner-link"], cliEnv(hub, await tempDir(), { HF_TOKEN: ALICE }));
		assert.equal(run.code, 0, run.stderr);
		const pushed = hub.store.tree("alice/inner-link");
		assert.deepEqual(pushed.get("copy-of-config.json")?.data, await readFile(join(ROPE.base, "config.json")));
		assert.deepEqual(pushed.get("model.safetensors")?.data, await readFile(join(ROPE.base, "model.safetensors")));
	});

	it("reads the file it checked: swapping it for a link afterwards changes nothing", async () => {
		const dir = await modelFolder();
		const original = await readFile(join(dir, "config.json"));
		const opened = await openPushFiles(dir);
		try {
			await rm(join(dir, "config.json"));
			await symlink("/etc/hostname", join(dir, "config.json"));
			const config = opened.files.find((f) => f.name === "config.json");
			assert.deepEqual(Buffer.from(await (config?.content as Blob).arrayBuffer()), original);
			assert.equal(config?.size, original.length);
		} finally {
			await opened.close();
		}
		await assert.rejects(openPushFiles(dir), /config\.json is a symbolic link to \/etc\/hostname, outside the folder/);
	});
});
