/**
 * How the forward pass uses memory and I/O: embedding rows read one by one (never the whole matrix),
 * one layer's weights alive at a time and all of them freed, prompts batched without mixing, MLP row
 * chunks giving the same numbers, and per-layer / per-prompt progress.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, test } from "node:test";
import { SafetensorsFile } from "../../src/safetensors/index.js";
import { computePromptStates, ReferenceLinearBackend, type LinearBackend, type LinearDType } from "../../src/model/index.js";
import { FIXTURES } from "./helpers.js";

const QWEN3 = join(FIXTURES, "hidden/qwen3-headdim32");
const SHARDED = join(FIXTURES, "dense/llama-sharded/base");
const PROMPTS = [[7], [1, 45, 200, 3, 99], [1, 17, 33, 2, 250, 150, 7, 8, 9, 10, 11, 319], [45, 45, 45]];

/** Records every pack/free and keeps count of the live matrices. */
class CountingBackend implements LinearBackend {
	readonly inner = new ReferenceLinearBackend();
	readonly events: string[] = [];
	live = 0;
	maxLive = 0;
	async packLinear(bytes: Uint8Array, dtype: LinearDType, rows: number, cols: number): Promise<unknown> {
		this.live++;
		this.maxLive = Math.max(this.maxLive, this.live);
		this.events.push(`pack ${rows}x${cols}`);
		return this.inner.packLinear(bytes, dtype, rows, cols);
	}
	linear(x: Float32Array, m: number, w: unknown, o?: { bias?: Float32Array; out?: Float32Array }): Promise<Float32Array> {
		return this.inner.linear(x, m, w as never, o);
	}
	free(w: unknown): void {
		this.live--;
		this.events.push("free");
		this.inner.free(w as never);
	}
}

const originalRead = SafetensorsFile.prototype.read;
afterEach(() => {
	SafetensorsFile.prototype.read = originalRead;
});

/** Logs every positional read as "tensor offset length", interleaved with `backend`'s events. */
function spyReads(log: string[]): void {
	SafetensorsFile.prototype.read = function (info, offset, length, into) {
		log.push(`read ${info.name} ${offset} ${length}`);
		return originalRead.call(this, info, offset, length, into);
	};
}

test("embedding rows are read one by one, half layers read one ahead and packed one at a time, everything freed", async () => {
	const backend = new CountingBackend();
	spyReads(backend.events);
	await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, logits: true });
	const reads = backend.events.filter((e) => e.startsWith("read "));
	const embedReads = reads.filter((e) => e.startsWith("read model.embed_tokens.weight"));
	assert.equal(embedReads.length, new Set(PROMPTS.flat()).size);
	// hidden 64 f32 = 256 bytes per row, at the row of the token id.
	for (const e of embedReads) {
		const [, , offset, length] = e.split(" ");
		assert.equal(Number(length), 256);
		assert.equal(Number(offset) % 256, 0);
	}
	// Reads run at most one layer ahead (layer l is first read once layer l - 1 is packed), and a layer
	// is packed half a layer at a time, each half once the previous one is freed (never more than two
	// matrices alive, below).
	let packs = 0;
	let currentLayer = -1;
	for (const e of backend.events) {
		if (e.startsWith("pack")) packs++;
		const layer = /^read model\.layers\.(\d+)\./.exec(e);
		if (layer && Number(layer[1]) !== currentLayer) {
			currentLayer = Number(layer[1]);
			assert.ok(packs >= 4 * (currentLayer - 1), `layer ${currentLayer} is read after only ${packs} packs`);
		}
	}
	// q/k/v and o, then gate/up and down: two halves of two matrices per layer, then lm_head.
	assert.equal(backend.maxLive, 2);
	assert.equal(backend.live, 0);
	assert.equal(backend.events.filter((e) => e.startsWith("pack")).length, 2 * 4 + 1);
	// q (4 heads x 32) and k, v (2 kv heads x 32 each) stacked: one 256 x 64 matrix; gate + up: 256 x 64.
	assert.deepEqual(backend.events.filter((e) => e.startsWith("pack")).slice(0, 4), ["pack 256x64", "pack 64x128", "pack 256x64", "pack 64x128"]);
});

test("sharded weights: one layer's tensors spread over shards are gathered and freed", async () => {
	const backend = new CountingBackend();
	const out = await computePromptStates(SHARDED, { prompts: [[1, 5, 9, 33, 70, 2, 11]] }, { backend });
	assert.equal(out.states[0]!.last.length, 2);
	assert.equal(backend.maxLive, 2);
	assert.equal(backend.live, 0);
});

test("batching prompts together gives exactly the states of each prompt run alone", async () => {
	const backend = new ReferenceLinearBackend();
	const together = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, logits: true });
	for (let p = 0; p < PROMPTS.length; p++) {
		const alone = await computePromptStates(QWEN3, { prompts: [PROMPTS[p]!] }, { backend, logits: true });
		assert.deepEqual(together.states[p], alone.states[0]);
		assert.deepEqual(together.logits![p], alone.logits![0]);
	}
});

test("the MLP in row chunks gives the same states", async () => {
	const backend = new ReferenceLinearBackend();
	const whole = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, keepAll: true });
	const chunked = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, keepAll: true, mlpChunkRows: 3 });
	assert.deepEqual(chunked.all, whole.all);
});

test("states: [layers] of [hidden] per prompt; layer 0 is the embedding row", async () => {
	const out = await computePromptStates(QWEN3, { prompts: [[5, 6], [6]] }, { backend: new ReferenceLinearBackend(), keepAll: true });
	for (const s of out.states) {
		assert.equal(s.last.length, 2);
		assert.equal(s.mean.length, 2);
		for (const v of [...s.last, ...s.mean]) assert.equal(v.length, 64);
	}
	// The last token of both prompts is token 6: same embedding, different contexts afterwards.
	assert.deepEqual(out.states[0]!.last[0], out.states[1]!.last[0]);
	assert.notDeepEqual(out.states[0]!.last[1], out.states[1]!.last[1]);
	assert.deepEqual(out.states[1]!.mean[0], out.states[1]!.last[0]);
	assert.equal(out.logits, undefined);
	assert.equal(out.all!.length, 2);
});

test("progress: every prompt of every layer, then the layer", async () => {
	const seen: string[] = [];
	await computePromptStates(QWEN3, { prompts: [[1], [2, 3]] }, {
		backend: new ReferenceLinearBackend(),
		logits: true,
		onProgress: (p) => seen.push(`${p.layer}/${p.layers} ${p.prompt}/${p.prompts}`),
	});
	assert.deepEqual(seen, ["0/2 1/2", "0/2 2/2", "1/2 0/2", "1/2 1/2", "1/2 2/2", "2/2 0/2"]);
});

test("router inputs only: the last layer is not run, and with summary last the one before only for last tokens", async () => {
	const seen: string[] = [];
	const backend = new CountingBackend();
	const full = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend: new ReferenceLinearBackend(), keepAll: true });
	const states = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, onProgress: (p) => seen.push(`${p.layer}/${p.layers}`) });
	// Two layers: routers read the inputs of layers 0 and 1, so only layer 0 runs.
	assert.equal(backend.events.filter((e) => e.startsWith("pack")).length, 4);
	assert.equal(seen.at(-1), "1/1");
	assert.deepEqual(states.states, full.states);
	const last = await computePromptStates(QWEN3, { prompts: PROMPTS }, { backend: new ReferenceLinearBackend(), summary: "last" });
	for (let p = 0; p < PROMPTS.length; p++) {
		assert.deepEqual(last.states[p]!.last, full.states[p]!.last);
		assert.deepEqual(last.states[p]!.mean, []);
	}
});

test("an aborted pass stops between layers and gives the read-ahead layer back", async () => {
	const backend = new CountingBackend();
	const abort = new AbortController();
	await assert.rejects(
		computePromptStates(QWEN3, { prompts: PROMPTS }, { backend, logits: true, signal: abort.signal, onProgress: (p) => p.layer === 1 && abort.abort(new Error("stop")) }),
		/stop/,
	);
	assert.equal(backend.live, 0);
});
