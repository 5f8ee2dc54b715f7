import assert from "node:assert/strict";
import { test } from "node:test";
import { MoeMergeError } from "../../src/errors.js";
import { formatBytes, parseShardSize, parseSize } from "../../src/util/size.js";

test("parseSize accepts bytes and decimal, billion and binary units", () => {
	const cases: [string | number, number][] = [
		[123, 123],
		["123", 123],
		["5GB", 5e9],
		["5G", 5e9],
		["5gb", 5e9],
		["500M", 500e6],
		["500MB", 500e6],
		["5B", 5e9],
		["5b", 5e9],
		["1.5GB", 1.5e9],
		["1.1K", 1100],
		["2 kb", 2000],
		["1T", 1e12],
		["1KiB", 1024],
		["2MiB", 2 * 1024 ** 2],
		["5GiB", 5 * 1024 ** 3],
		["1tib", 1024 ** 4],
		["  7 mib ", 7 * 1024 ** 2],
		[".5G", 5e8],
	];
	for (const [input, expected] of cases) assert.equal(parseSize(input), expected, String(input));
});

test("parseSize refuses anything else with a clear MoeMergeError", () => {
	for (const input of ["", "GB", "5 GB GB", "5PB", "-5G", "1.5", "0", "0GB", "five", "5e9", "1,5G", 0, -1, 1.5, NaN, Infinity, "99999999999T"]) {
		assert.throws(() => parseSize(input), (e: unknown) => e instanceof MoeMergeError && /invalid size/.test(e.message), String(input));
	}
	assert.throws(() => parseSize("5X"), /e\.g\. 5GB, 500M, 5B \(= 5 billion bytes\)/);
});

test("formatBytes uses decimal units with two decimals", () => {
	assert.equal(formatBytes(0), "0 B");
	assert.equal(formatBytes(999), "999 B");
	assert.equal(formatBytes(1000), "1.00 KB");
	assert.equal(formatBytes(6_830_000_000), "6.83 GB");
	assert.equal(formatBytes(999_999), "1.00 MB");
	assert.equal(formatBytes(48e9), "48.00 GB");
	assert.equal(formatBytes(2.5e12), "2.50 TB");
	assert.equal(formatBytes(-1500), "-1.50 KB");
});

test("parseShardSize: a bare number below 1 MB is refused as a likely missing unit; with a unit, or from 1 MB, it is a size", () => {
	for (const input of ["5", "999999", " 20000 "]) {
		assert.throws(() => parseShardSize(input), (e: unknown) => e instanceof MoeMergeError && /below 1 MB a size needs a unit/.test(e.message), input);
	}
	assert.equal(parseShardSize("1000000"), 1_000_000);
	assert.equal(parseShardSize("5B"), 5e9);
	assert.equal(parseShardSize("20KB"), 20_000);
	assert.equal(parseShardSize("300K"), 300_000);
	assert.throws(() => parseShardSize("5X"), /invalid size "5X"/);
});
