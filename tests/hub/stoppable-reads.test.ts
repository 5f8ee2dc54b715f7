import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { bodyChunks } from "../../src/hub/read-body.js";
import { StoppableReads } from "../../src/hub/stoppable-reads.js";
import { IdleDeadline, boundedResponse } from "../../src/hub/timed-fetch.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A body of `count` chunks of 64 KiB, each made on demand; the WeakRefs let the test see which are still alive. */
function chunkStream(count: number, made: WeakRef<Uint8Array>[]): ReadableStream<Uint8Array> {
	let i = 0;
	return new ReadableStream<Uint8Array>(
		{
			pull(controller) {
				if (i++ === count) return controller.close();
				const chunk = new Uint8Array(65536);
				made.push(new WeakRef(chunk));
				controller.enqueue(chunk);
			},
		},
		{ highWaterMark: 0 },
	);
}

async function collectedWhileReading(open: (body: ReadableStream<Uint8Array>) => AsyncIterator<Uint8Array>): Promise<number> {
	const made: WeakRef<Uint8Array>[] = [];
	const chunks = open(chunkStream(64, made));
	for (let i = 0; i < 40; i++) assert.equal((await chunks.next()).done, false);
	// The body is still open (a range answer the merge keeps reading): the chunks consumed must not be kept.
	await new Promise((resolve) => setImmediate(resolve));
	gc();
	const alive = made.slice(0, 32).filter((r) => r.deref() !== undefined).length;
	await chunks.return?.(undefined);
	return alive;
}

describe("reads of a long body stoppable by an abort or a deadline", () => {
	it("bodyChunks keeps no chunk it has handed over while the body stays open (no race reaction per read)", async () => {
		const stop = new AbortController();
		assert.equal(await collectedWhileReading((body) => bodyChunks(body, stop.signal)), 0);
	});

	it("a response under an idle deadline keeps no chunk it has handed over", async () => {
		const deadline = new IdleDeadline({ timeoutMs: 60_000, variable: "HF_HUB_DOWNLOAD_TIMEOUT", what: "GET test" });
		const open = (body: ReadableStream<Uint8Array>) => bodyChunks(boundedResponse(new Response(body, { status: 206 }), deadline, { timeoutMs: 60_000, variable: "X", what: "GET test" }).body!);
		assert.equal(await collectedWhileReading(open), 0);
	});

	it("a stop rejects the read in flight and every later read", async () => {
		const reads = new StoppableReads();
		const reader = new ReadableStream<Uint8Array>({ pull() {} }, { highWaterMark: 0 }).getReader();
		const pending = reads.read(reader);
		reads.stop(new Error("deadline"));
		await assert.rejects(pending, /deadline/);
		await assert.rejects(reads.read(reader), /deadline/);
	});
});
