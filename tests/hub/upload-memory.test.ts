import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createHubFetch } from "../../src/hub/hub-fetch.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const CHUNK = 256 << 10;
const CHUNKS = 64;

/** A file-like Blob whose chunks are made as it streams (like FdBlob), each watched by a WeakRef. */
class WatchedBlob extends Blob {
	readonly made: WeakRef<Uint8Array>[] = [];
	constructor() {
		super([]);
		Object.defineProperty(this, "size", { get: () => CHUNK * CHUNKS });
	}
	override stream(): ReturnType<Blob["stream"]> {
		let i = 0;
		return new ReadableStream<Uint8Array>({
			pull: (controller) => {
				if (i++ === CHUNKS) return controller.close();
				const chunk = new Uint8Array(CHUNK);
				this.made.push(new WeakRef(chunk));
				controller.enqueue(chunk);
			},
		}) as ReturnType<Blob["stream"]>;
	}
}

describe("an upload through the Hub fetch", () => {
	it("keeps none of the body it has sent (no tee kept for a redirect): a shard going up is not held in memory", async () => {
		let received = 0;
		let halfway = () => {};
		const half = new Promise<void>((resolve) => (halfway = resolve));
		let resume = () => {};
		let paused = false;
		const server = createServer((req, res) => {
			req.on("data", (chunk: Buffer) => {
				received += chunk.length;
				if (received >= (CHUNK * CHUNKS) / 2 && !paused) {
					paused = true;
					req.pause();
					resume = () => req.resume();
					halfway();
				}
			});
			req.on("end", () => res.end("ok"));
		});
		server.listen(0, "127.0.0.1");
		await once(server, "listening");
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		try {
			const hubFetch = createHubFetch({ hubUrl: url, timeouts: { metadataMs: 30_000, downloadMs: 30_000 }, retries: 0 });
			const blob = new WatchedBlob();
			const upload = hubFetch(`${url}/lfs-upload/x`, { method: "PUT", body: blob });
			await half;
			await new Promise((resolve) => setImmediate(resolve));
			gc();
			// The first quarter went through the socket long ago: nothing may still hold it.
			const alive = blob.made.slice(0, CHUNKS / 4).filter((r) => r.deref() !== undefined).length;
			resume();
			const response = await upload;
			assert.equal(await response.text(), "ok");
			assert.equal(alive, 0, `${alive} of the first ${CHUNKS / 4} chunks sent are still in memory`);
		} finally {
			server.close();
		}
	});
});
