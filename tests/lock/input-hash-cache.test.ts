import assert from "node:assert/strict";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputHashCache } from "../../src/lock/input-hash-cache.js";

const dir = await mkdtemp(join(tmpdir(), "moe-merge-hashcache-"));
after(() => rm(dir, { recursive: true, force: true }));

describe("InputHashCache", () => {
	it("remembers a hash across opens while the file is unchanged, and forgets it when it changes", async () => {
		const cacheFile = join(dir, "cache.json");
		const file = join(dir, "weights.safetensors");
		await writeFile(file, "abc");
		const first = await InputHashCache.open(cacheFile);
		assert.equal(await first.get(file), undefined);
		await first.set(file, "f".repeat(64));
		await first.save();
		const second = await InputHashCache.open(cacheFile);
		assert.equal(await second.get(file), "f".repeat(64));
		await utimes(file, new Date(), new Date(Date.now() + 5000));
		assert.equal(await second.get(file), undefined, "a new mtime means the file may have changed");
		await writeFile(file, "abcd");
		assert.equal(await (await InputHashCache.open(cacheFile)).get(file), undefined);
	});

	it("starts empty when the cache file is missing or corrupt", async () => {
		const corrupt = join(dir, "corrupt.json");
		await writeFile(corrupt, "{not json");
		assert.equal(await (await InputHashCache.open(corrupt)).get(join(dir, "x")), undefined);
		assert.equal(await (await InputHashCache.open(join(dir, "missing.json"))).get(join(dir, "x")), undefined);
	});
});
