import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { SafetensorsError } from "../../src/errors.js";
import { SafetensorsFile, type DType } from "../../src/safetensors/index.js";
import { assembleFile, buildSafetensors, concat, parseInMemory, tempDir } from "./helpers.js";

const FILE = "/models/broken/model.safetensors";
const F32x3 = { name: "w", dtype: "F32", shape: [3], data: new Uint8Array(12) };

/** Asserts one SafetensorsError that names the file and matches the cause. */
function assertRejects(bytes: Uint8Array, cause: RegExp): void {
	assert.throws(() => parseInMemory(bytes, FILE), (error: unknown) => {
		assert.ok(error instanceof SafetensorsError, `expected SafetensorsError, got ${String(error)}`);
		assert.equal(error.file, FILE);
		assert.ok(error.message.includes(FILE), `message does not name the file: ${error.message}`);
		assert.match(error.message, cause);
		return true;
	});
}

function headerOnly(json: string, dataBytes = 0): Uint8Array {
	return assembleFile(json, new Uint8Array(dataBytes));
}

describe("header validation rejects", () => {
	test("a file shorter than 8 bytes", () => assertRejects(new Uint8Array(5), /5 bytes, too short/));
	test("header length 0", () => assertRejects(assembleFile("", new Uint8Array(16)), /header length is 0/));
	test("header length over 100 MB", () => assertRejects(assembleFile("{}", new Uint8Array(0), 100_000_001n), /exceeds the 100 MB limit/));
	test("a huge u64 header length", () => assertRejects(assembleFile("{}", new Uint8Array(0), 0xffff_ffff_ffff_ffffn), /exceeds the 100 MB limit/));
	test("header length beyond the end of the file", () => assertRejects(assembleFile("{}", new Uint8Array(0), 4000n), /truncated: the header is 4000 bytes/));
	test("a header that is not UTF-8", () => assertRejects(assembleFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), new Uint8Array(0)), /not valid UTF-8/));
	test("a header that is not JSON", () => assertRejects(headerOnly('{"w": {"dtype": "F32",'), /not valid JSON/));
	test("a JSON array", () => assertRejects(headerOnly("[]"), /not a JSON object/));
	test("JSON null", () => assertRejects(headerOnly("null"), /not a JSON object/));
	test("a byte order mark", () => assertRejects(headerOnly("\uFEFF{}"), /not a JSON object/));
	test("a non-JSON space (form feed, NBSP) before the object", () => {
		assertRejects(headerOnly("\f{}"), /not a JSON object/);
		assertRejects(headerOnly("\u00a0{}"), /not a JSON object/);
	});
	test("__metadata__ with a number value", () => assertRejects(headerOnly('{"__metadata__":{"format":1}}'), /"__metadata__" must map strings to strings, but "format" is 1/));
	test("__metadata__ that is an array", () => assertRejects(headerOnly('{"__metadata__":["pt"]}'), /"__metadata__" must be an object of strings/));
	test("__metadata__ null", () => assertRejects(headerOnly('{"__metadata__":null}'), /"__metadata__" must be an object/));
	test("an unknown dtype", () => assertRejects(headerOnly('{"w":{"dtype":"F9","shape":[1],"data_offsets":[0,1]}}', 1), /tensor "w": unknown dtype "F9"/));
	test("a dtype that is an Object.prototype key", () => assertRejects(headerOnly('{"w":{"dtype":"toString","shape":[1],"data_offsets":[0,1]}}', 1), /unknown dtype "toString"/));
	for (const shape of ["[-1]", "[1.5]", '"3"', "[1e300]", '["2"]', "[null]", "{}"]) {
		test(`shape ${shape}`, () => assertRejects(headerOnly(`{"w":{"dtype":"U8","shape":${shape},"data_offsets":[0,0]}}`), /tensor "w": shape must be an array of non-negative integers/));
	}
	test("a shape whose size overflows", () => assertRejects(headerOnly('{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'), /too large/));
	for (const offsets of ["[0]", "[4,2]", '["0","4"]', "[-1,3]", "[0,4,8]", "[0.5,4]", "null", "[0,1e300]"]) {
		test(`data_offsets ${offsets}`, () => assertRejects(headerOnly(`{"w":{"dtype":"U8","shape":[4],"data_offsets":${offsets}}}`, 4), /tensor "w": data_offsets must be \[begin, end\]/));
	}
	test("missing data_offsets", () => assertRejects(headerOnly('{"w":{"dtype":"U8","shape":[4]}}', 4), /data_offsets must be/));
	test("a tensor entry that is not an object", () => assertRejects(headerOnly('{"w":[1,2]}'), /tensor "w": entry must be an object/));
	test("data_offsets that disagree with shape and dtype", () =>
		assertRejects(headerOnly('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), /tensor "w": data_offsets \[0, 8\] hold 8 bytes but F32 \[3\] needs 12/));
	test("a truncated data area", () => {
		const file = buildSafetensors([F32x3, { ...F32x3, name: "v" }]);
		assertRejects(file.subarray(0, file.length - 1), /truncated: tensor "v" needs bytes up to/);
	});
	test("ranges far outside the data area", () =>
		assertRejects(headerOnly('{"w":{"dtype":"U8","shape":[4],"data_offsets":[1000,1004]}}', 4), /truncated: tensor "w"/));
	test("overlapping tensors", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}', 6), /tensors "a" and "b" overlap \(data bytes \[0, 4\) and \[2, 6\)\)/));
	test("an empty tensor inside another", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}', 4), /tensors "a" and "e" overlap/));
	test("a gap between tensors", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}}', 10), /gap of 2 unused bytes after tensor "a", before tensor "b"/));
	test("a gap at the start of the data", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}', 8), /gap of 4 unused bytes at the start of the data/));
	test("trailing bytes after the last tensor", () => assertRejects(concat([buildSafetensors([F32x3]), new Uint8Array(3)]), /trailing bytes: .*\(3 extra\)/));
	test("data but no tensors", () => assertRejects(headerOnly("{}", 5), /trailing bytes/));
	test("a duplicate tensor name", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', 4), /the key "a" twice/));
	test("a duplicate name spelled with escapes", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"\\u0061":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', 4), /the key "a" twice/));
	test("a duplicate key inside a tensor entry", () =>
		assertRejects(headerOnly('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"shape":[2]}}', 2), /the key "shape" twice/));
	test("an empty tensor name", () => assertRejects(headerOnly('{"":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), /empty name/));
});

describe("header validation accepts", () => {
	test("the layout torch writes, with metadata, padding and absolute offsets", () => {
		const file = buildSafetensors([F32x3, { name: "b", dtype: "BF16", shape: [2, 2], data: new Uint8Array(8) }], { format: "pt" });
		const header = parseInMemory(file, FILE);
		assert.deepEqual(header.metadata, { format: "pt" });
		assert.equal(header.dataStart, file.length - 20);
		assert.deepEqual(header.tensors.get("w"), { name: "w", dtype: "F32", shape: [3], begin: header.dataStart, end: header.dataStart + 12 });
		assert.deepEqual(header.tensors.get("b"), { name: "b", dtype: "BF16", shape: [2, 2], begin: header.dataStart + 12, end: header.dataStart + 20 });
	});
	test("0-d and empty tensors, tensors listed out of offset order, and no tensors at all", () => {
		const json = '{"z":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"I64","shape":[3,0],"data_offsets":[8,8]}}   ';
		const header = parseInMemory(headerOnly(json, 8), FILE);
		assert.deepEqual([...header.tensors.keys()], ["z", "s", "e"]);
		assert.deepEqual(header.tensors.get("s")!.shape, []);
		assert.equal(parseInMemory(headerOnly("{}"), FILE).tensors.size, 0);
	});
	// safetensors' own test_whitespace_leading_padded_header: writers may pad before the object to align the data.
	test("JSON whitespace before and after the object", () => {
		const header = parseInMemory(headerOnly('\t\n \r{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}\r \t\n', 2), FILE);
		assert.deepEqual([...header.tensors.keys()], ["w"]);
		assert.equal(parseInMemory(headerOnly("\t\n{}\r "), FILE).tensors.size, 0);
	});
	test("every dtype", () => {
		const dtypes: [DType, number][] = [["F64", 8], ["F32", 4], ["F16", 2], ["BF16", 2], ["I64", 8], ["I32", 4], ["I16", 2], ["I8", 1], ["U8", 1], ["BOOL", 1], ["F8_E4M3", 1], ["F8_E5M2", 1]];
		const file = buildSafetensors(dtypes.map(([dtype, size]) => ({ name: dtype, dtype, shape: [2], data: new Uint8Array(2 * size) })));
		assert.equal(parseInMemory(file, FILE).tensors.size, dtypes.length);
	});
	test("a tensor named __proto__ and metadata key __proto__ stay plain entries", () => {
		const header = parseInMemory(headerOnly('{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), FILE);
		assert.equal(Object.getPrototypeOf(header.metadata), Object.prototype);
		assert.equal(header.metadata["__proto__"], "x");
		assert.ok(header.tensors.has("__proto__"));
	});
});

describe("opening files", () => {
	test("SafetensorsFile.open reports a truncated file with the path", async (t) => {
		const dir = await tempDir(t);
		const path = join(dir, "model.safetensors");
		const bytes = buildSafetensors([F32x3]);
		await writeFile(path, bytes.subarray(0, bytes.length - 4));
		await assert.rejects(SafetensorsFile.open(path), (error: unknown) => {
			assert.ok(error instanceof SafetensorsError);
			assert.equal(error.file, path);
			assert.match(error.message, new RegExp(`^${path}: invalid safetensors file: truncated: tensor "w"`));
			assert.ok(error.hint);
			return true;
		});
	});
	test("SafetensorsFile.open on a missing file and on a folder", async (t) => {
		const dir = await tempDir(t);
		await assert.rejects(SafetensorsFile.open(join(dir, "nope.safetensors")), (e: unknown) => e instanceof SafetensorsError && /nope\.safetensors: cannot open safetensors file: ENOENT/.test(e.message));
		await assert.rejects(SafetensorsFile.open(dir), (e: unknown) => e instanceof SafetensorsError && e.message.includes(dir));
	});
	test("SafetensorsFile.open on short and empty files", async (t) => {
		const dir = await tempDir(t);
		for (const size of [0, 7]) {
			const path = join(dir, `short-${size}.safetensors`);
			await writeFile(path, new Uint8Array(size));
			await assert.rejects(SafetensorsFile.open(path), (e: unknown) => e instanceof SafetensorsError && e.message.includes(path) && /too short/.test(e.message));
		}
	});
});

describe("fuzzing headers", () => {
	const dtypeArb = fc.constantFrom<[DType, number]>(["F32", 4], ["F16", 2], ["BF16", 2], ["I64", 8], ["U8", 1], ["BOOL", 1]);
	const tensorArb = fc.record({
		// "__metadata__" is the metadata key, not a tensor; "__proto__" cannot be set as a plain key by the file builder.
		name: fc.string({ minLength: 1, maxLength: 12 }).filter((name) => name !== "__metadata__" && name !== "__proto__"),
		dtype: dtypeArb,
		shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
	});
	const validFileArb = fc
		.uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 6 })
		.map((tensors) =>
			buildSafetensors(
				tensors.map(({ name, dtype: [dtype, size], shape }) => ({ name, dtype, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * size) })),
				{ format: "pt" },
			),
		);

	/** Never anything but SafetensorsError; whatever parses must tile its data area exactly. */
	function parseOrSafetensorsError(bytes: Uint8Array): void {
		try {
			const header = parseInMemory(bytes, FILE);
			const covered = [...header.tensors.values()].reduce((sum, t) => sum + (t.end - t.begin), 0);
			assert.equal(header.dataStart + covered, bytes.length);
		} catch (error) {
			if (!(error instanceof SafetensorsError)) throw error;
			assert.ok(error.message.startsWith(`${FILE}: `), error.message);
		}
	}

	test("valid generated files parse", () => {
		fc.assert(fc.property(validFileArb, (bytes) => void parseInMemory(bytes, FILE)), { numRuns: 300 });
	});
	test("truncating a valid file at any point gives SafetensorsError", () => {
		fc.assert(
			fc.property(validFileArb, fc.nat(), (bytes, cut) => {
				const end = cut % bytes.length;
				assert.throws(() => parseInMemory(bytes.subarray(0, end), FILE), SafetensorsError);
			}),
			{ numRuns: 500 },
		);
	});
	test("overwriting random bytes never throws anything but SafetensorsError", () => {
		fc.assert(
			fc.property(validFileArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (bytes, edits) => {
				const copy = bytes.slice();
				for (const [at, value] of edits) copy[at % copy.length] = value;
				parseOrSafetensorsError(copy);
			}),
			{ numRuns: 2000 },
		);
	});
	test("mutating the header text (digits, quotes, brackets) never throws anything but SafetensorsError", () => {
		const tokens = ["0", "9", "-1", "1e400", '"', "{", "}", "[", "]", ",", ":", "\\", "null", " ", "\u00e9", "\ud800"];
		fc.assert(
			fc.property(validFileArb, fc.nat(), fc.constantFrom(...tokens), fc.boolean(), (bytes, at, token, replace) => {
				const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
				const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
				const i = at % text.length;
				const mutated = text.slice(0, i) + token + text.slice(replace ? i + 1 : i);
				parseOrSafetensorsError(assembleFile(mutated, bytes.subarray(8 + n)));
			}),
			{ numRuns: 2000 },
		);
	});
	test("random garbage never throws anything but SafetensorsError", () => {
		fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => parseOrSafetensorsError(bytes)), { numRuns: 1000 });
	});
});
