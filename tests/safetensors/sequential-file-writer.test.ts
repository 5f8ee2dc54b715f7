import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { SequentialFileWriter } from "../../src/safetensors/sequential-file-writer.js";

const dir = await mkdtemp(join(tmpdir(), "moe-merge-seqw-"));
after(() => rm(dir, { recursive: true, force: true }));
let counter = 0;

/** Writes `pieces` through the writer, alternating copy and in-place fills, and returns the file's bytes. */
async function writeThrough(pieces: Uint8Array[], options: { direct: "auto" | false; bufferBytes: number; folder?: string; buffers?: Uint8Array[] }): Promise<{ bytes: Buffer; direct: boolean }> {
	const path = join(options.folder ?? dir, `f${counter++}`);
	const writer = await SequentialFileWriter.open(path, { direct: options.direct, bufferBytes: options.bufferBytes, sha256: true, buffers: options.buffers });
	for (const [i, piece] of pieces.entries()) {
		if (i % 2 === 0) {
			await writer.append(piece);
			continue;
		}
		for (let done = 0; done < piece.length; ) {
			const view = writer.reserve(piece.length - done);
			assert.ok(view.length > 0);
			view.set(piece.subarray(done, done + view.length));
			await writer.commit(view.length);
			done += view.length;
		}
	}
	const direct = writer.direct;
	await writer.finish();
	const bytes = await readFile(path);
	// The hash made while writing is the hash of what is on disk (O_DIRECT padding excluded).
	assert.equal(writer.sha256, createHash("sha256").update(bytes).digest("hex"));
	return { bytes, direct };
}

describe("SequentialFileWriter", () => {
	it("writes exactly the bytes given, whatever the piece sizes, with and without O_DIRECT", async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 20000 }), { maxLength: 8 }), fc.constantFrom<"auto" | false>("auto", false), async (pieces, direct) => {
				const { bytes } = await writeThrough(pieces, { direct, bufferBytes: 8192 });
				assert.ok(bytes.equals(Buffer.concat(pieces)));
			}),
			{ numRuns: 60 },
		);
	});

	it("writes through the caller's staging buffers (three, of one page each, in one shared memory) the same bytes", async () => {
		const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
		const buffers = [0, 1, 2].map((i) => new Uint8Array(memory.buffer, 4096 + i * 4096, 4096));
		await fc.assert(
			fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 20000 }), { maxLength: 8 }), fc.constantFrom<"auto" | false>("auto", false), async (pieces, direct) => {
				const { bytes } = await writeThrough(pieces, { direct, bufferBytes: 4096, buffers });
				assert.ok(bytes.equals(Buffer.concat(pieces)));
			}),
			{ numRuns: 30 },
		);
	});

	it("refuses staging buffers O_DIRECT or the hash thread cannot take", async () => {
		const shared = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer;
		// One wasm page is 64 KiB.
		const page = (at: number, length = 4096) => new Uint8Array(shared, at, length);
		const cases = {
			one: [page(0)],
			unaligned: [page(0), page(4096 + 512)],
			"not shared": [page(0), new Uint8Array(4096)],
			"not whole pages": [page(0, 2048), page(8192, 2048)],
			"sizes differ": [page(0), page(8192, 8192)],
		};
		for (const buffers of Object.values(cases)) {
			await assert.rejects(SequentialFileWriter.open(join(dir, `bad${counter++}`), { buffers }), /staging buffers/);
		}
	});

	it("does not refill a held staging buffer before its hold settles, and fails with a hold's rejection", async () => {
		const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
		const buffers = [0, 1].map((i) => new Uint8Array(memory.buffer, i * 4096, 4096));
		const path = join(dir, `held${counter++}`);
		const writer = await SequentialFileWriter.open(path, { buffers });
		let release!: () => void;
		writer.reserve(4096).fill(1);
		writer.holdUntil(new Promise<void>((resolve) => (release = resolve)));
		await writer.commit(4096);
		writer.reserve(4096).fill(2);
		let refilled = false;
		const back = writer.commit(4096).then(() => (refilled = true));
		await new Promise((resolve) => setTimeout(resolve, 50));
		assert.equal(refilled, false, "the held buffer is not handed out again");
		release();
		await back;
		writer.reserve(10).fill(3);
		await writer.commit(10);
		await writer.finish();
		assert.deepEqual([...new Set(await readFile(path))], [1, 2, 3]);

		const failing = await SequentialFileWriter.open(join(dir, `held${counter++}`), { buffers });
		const fill = async () => {
			failing.reserve(4096).fill(1);
			failing.holdUntil(Promise.reject(new Error("the reader failed")));
			await failing.commit(4096);
			failing.reserve(4096).fill(2);
			await failing.commit(4096);
		};
		await assert.rejects(fill(), /the reader failed/);
		await failing.abort();
	});

	it("hashes several files written at once, each its own sha256", async () => {
		const pieces = [0, 1, 2, 3].map((f) => [...Array(6)].map((_, i) => new Uint8Array(3000 + 997 * i).fill(f * 16 + i)));
		const written = await Promise.all(pieces.map((p) => writeThrough(p, { direct: "auto", bufferBytes: 4096 })));
		written.forEach(({ bytes }, f) => assert.ok(bytes.equals(Buffer.concat(pieces[f]!))));
	});

	it("uses O_DIRECT on a disk file system and trims the block padding of the tail", async () => {
		const piece = new Uint8Array(10_001).map((_, i) => i % 251);
		const { bytes, direct } = await writeThrough([piece], { direct: "auto", bufferBytes: 4096 });
		assert.equal(bytes.length, 10_001);
		assert.ok(bytes.equals(piece));
		// tmpdir may be tmpfs on some machines; O_DIRECT is then unavailable and the writer falls back.
		assert.equal(typeof direct, "boolean");
	});

	it("writes correctly on tmpfs, whose O_DIRECT support depends on the kernel", { skip: !existsSync("/dev/shm") }, async () => {
		const shm = await mkdtemp("/dev/shm/moe-merge-seqw-");
		try {
			const piece = new Uint8Array(50_000).fill(3);
			const { bytes } = await writeThrough([piece, piece], { direct: "auto", bufferBytes: 8192, folder: shm });
			assert.ok(bytes.equals(Buffer.concat([piece, piece])));
		} finally {
			await rm(shm, { recursive: true, force: true });
		}
	});

	it("refuses to replace an existing file unless exclusive is off", async () => {
		const path = join(dir, "exists");
		const w = await SequentialFileWriter.open(path);
		await w.finish();
		await assert.rejects(SequentialFileWriter.open(path), { code: "EEXIST" });
		const again = await SequentialFileWriter.open(path, { exclusive: false });
		await again.append(new Uint8Array([1, 2, 3]));
		await again.finish();
		assert.deepEqual([...(await readFile(path))], [1, 2, 3]);
	});
});
