import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { createHubFetch } from "../../src/hub/hub-fetch.js";
import { hubTimeouts } from "../../src/hub/hub-timeouts.js";
import { retryAfterMs } from "../../src/hub/retry-after.js";
import { revisionProblem } from "../../src/hub/revision.js";
import { HubRequestError } from "../../src/hub/timed-fetch.js";
import { JSON_LIMITS, readJsonCapped } from "../../src/util/read-json-capped.js";
import { ModelError } from "../../src/errors.js";

describe("revisions, as git's ref-name rules allow them", () => {
	it("accepts branches, tags, commits and refs/pr/N; refuses traversal and git's forbidden forms", () => {
		for (const ok of ["main", "v1.0", "feature/x", "refs/pr/12", "a".repeat(40), "release-2024.06"]) assert.equal(revisionProblem(ok), undefined, ok);
		for (const bad of ["../../main", "..", "a/../b", "", "a b", "x\u0000y", "a:b", "a~1", "a^", "a?", "a*", "a[", "a\\b", "/main", "main/", "a//b", ".hidden", "a/.b", "x.lock", "a.", "a@{1}", "@"]) {
			assert.notEqual(revisionProblem(bad), undefined, JSON.stringify(bad));
		}
	});
});

describe("timeouts and Retry-After, read as huggingface_hub reads them", () => {
	it("takes the timeouts in seconds from HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT, refusing nonsense", () => {
		assert.deepEqual(hubTimeouts({}), { metadataMs: 20_000, downloadMs: 20_000 });
		assert.deepEqual(hubTimeouts({ HF_HUB_ETAG_TIMEOUT: "5", HF_HUB_DOWNLOAD_TIMEOUT: "0.5" }), { metadataMs: 5000, downloadMs: 500 });
		assert.throws(() => hubTimeouts({ HF_HUB_DOWNLOAD_TIMEOUT: "10s" }), /HF_HUB_DOWNLOAD_TIMEOUT="10s" is not a timeout: expected a number of seconds/);
		assert.throws(() => hubTimeouts({ HF_HUB_ETAG_TIMEOUT: "0" }), /HF_HUB_ETAG_TIMEOUT="0" is not a timeout/);
	});

	it("reads Retry-After as seconds or an HTTP date", () => {
		assert.equal(retryAfterMs("7"), 7000);
		assert.equal(retryAfterMs(new Date(1_000_000 + 30_000).toUTCString(), 1_000_000), 30_000);
		assert.equal(retryAfterMs("soon"), undefined);
		assert.equal(retryAfterMs(null), undefined);
	});

	it("waits out a 429 as often as allowed, then stops with the count; each wait is announced", async () => {
		let asked = 0;
		const server = createServer((_req, res) => {
			asked++;
			res.writeHead(429, { "Retry-After": "0" });
			res.end("slow down");
		});
		server.listen(0, "127.0.0.1");
		await once(server, "listening");
		after(() => server.close());
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		const waits: string[] = [];
		const hubFetch = createHubFetch({ hubUrl: url, timeouts: hubTimeouts({}), retries: 2, onWait: (m) => waits.push(m) });
		const error = await hubFetch(`${url}/api/models/org/x/revision/main`).catch((e) => e);
		assert.ok(error instanceof HubRequestError, String(error));
		assert.match(error.message, /still answered 429 \(too many requests\) to GET 127\.0\.0\.1:\d+\/api\/models\/org\/x\/revision\/main after 2 waits/);
		assert.equal(asked, 3);
		assert.equal(waits.length, 2);
	});
});

describe("readJsonCapped", () => {
	it("reads a response up to its limit and refuses past it, naming what and the limit", async () => {
		const small = new Response(JSON.stringify({ a: 1 }));
		assert.deepEqual(await readJsonCapped(small, JSON_LIMITS.config, "adapter_config.json"), { a: 1 });
		let pulled = 0;
		const endless = new ReadableStream<Uint8Array>({
			pull(controller) {
				pulled++;
				controller.enqueue(new Uint8Array(1 << 20).fill(0x20));
			},
		});
		const limit = { bytes: 3_000_000, what: "an adapter config" };
		await assert.rejects(readJsonCapped(new Response(endless), limit, "adapter_config.json"), (e: unknown) => {
			assert.ok(e instanceof ModelError);
			assert.match(e.message, /^adapter_config\.json: larger than that, over the 3\.00 MB limit for an adapter config/);
			return true;
		});
		assert.ok(pulled <= 5, `stopped at the limit (${pulled} MB pulled)`);
		await assert.rejects(readJsonCapped(new Response("{nope"), limit, "adapter_config.json"), /adapter_config\.json: not valid JSON/);
	});
});
