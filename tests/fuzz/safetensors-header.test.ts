/** Whatever the bytes, the safetensors reader ends in a SafetensorsError or a header that is sound. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { SafetensorsError } from "../../src/errors.js";
import { HEADER_LENGTH_BYTES, SafetensorsFile, type SafetensorsHeader, parseHeaderLength, parseSafetensorsHeader } from "../../src/safetensors/index.js";
import { RUNS, caseCounter, endsTyped, seeds, tempDir } from "./helpers.js";

const count = caseCounter("safetensors header");
const corpus = seeds("safetensors");
/** Seeds that are valid files; every other seed must be refused. */
const VALID = new Set(["valid.safetensors", "proto-names.safetensors"]);

/** What SafetensorsFile.open does with the bytes, in memory. */
function parse(bytes: Uint8Array): SafetensorsHeader {
	const n = parseHeaderLength(bytes, bytes.length, "fuzz.safetensors");
	// The reader allocates n bytes for the header: never more than the file holds.
	assert.ok(HEADER_LENGTH_BYTES + n <= bytes.length, `header length ${n} accepted for a ${bytes.length}-byte file`);
	return parseSafetensorsHeader(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + n), bytes.length, "fuzz.safetensors");
}

/** A header that parsed must describe tensors tiling the data exactly, inside the file. */
function assertSound(header: SafetensorsHeader, size: number): void {
	const tensors = [...header.tensors.values()].sort((a, b) => a.begin - b.begin);
	let cursor = header.dataStart;
	for (const t of tensors) {
		assert.equal(t.begin, cursor);
		assert.ok(t.end >= t.begin && t.end <= size);
		cursor = t.end;
	}
	assert.equal(cursor, size);
}

async function check(bytes: Uint8Array, what: string): Promise<void> {
	count();
	const outcome = await endsTyped(() => parse(bytes), [SafetensorsError], what);
	if (!(outcome instanceof Error)) assertSound(outcome, bytes.length);
}

const mutation = fc.oneof(
	fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
	fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
	fc.record({ kind: fc.constant("length" as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
	fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
	fc.record({ kind: fc.constant("text" as const), at: fc.nat(), text: fc.constantFrom("[", "]", "{", "}", '"', ",", "-1", "1e308", "9007199254740993", "null", '"F32"', '"__metadata__"', "\\u0000", "[[[[[[[[", ":") }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(seed: Uint8Array, m: Mutation): Uint8Array {
	const at = "at" in m ? m.at % (seed.length + 1) : 0;
	switch (m.kind) {
		case "flip": {
			const out = Uint8Array.from(seed);
			if (out.length > 0) out[at % out.length]! ^= m.bits;
			return out;
		}
		case "cut":
			return seed.subarray(0, at);
		case "length": {
			const out = Uint8Array.from(seed.length >= 8 ? seed : new Uint8Array(8));
			new DataView(out.buffer).setBigUint64(0, m.value, true);
			return out;
		}
		case "insert":
		case "text": {
			const extra = m.kind === "insert" ? m.bytes : new TextEncoder().encode(m.text);
			return Uint8Array.from([...seed.subarray(0, at), ...extra, ...seed.subarray(at)]);
		}
	}
}

/** Header JSON built from arbitrary values where the format wants dtypes, shapes and offsets. */
const anyValue = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(-1, 2 ** 53, 2 ** 64, 1.5, -0, "4", null, true, [], {}), fc.string({ maxLength: 4 }));
const entry = fc.record(
	{
		dtype: fc.oneof(fc.constantFrom("F32", "F16", "BF16", "U8", "I64", "BOOL", "F8_E4M3", "f32", "toString", "__proto__"), anyValue),
		shape: fc.oneof(fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }), fc.array(anyValue, { maxLength: 3 }), anyValue),
		data_offsets: fc.oneof(fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 64 })), fc.array(anyValue, { maxLength: 3 }), anyValue),
	},
	{ requiredKeys: [] },
);
const header = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__metadata__", "__proto__", "constructor", "")), fc.oneof(entry, anyValue), { maxKeys: 5 });

describe("fuzz: the safetensors header reader", () => {
	it("refuses every bad seed with a SafetensorsError and opens the good ones, from disk", async () => {
		for (const [name, bytes] of corpus) {
			count();
			const path = join(await tempDir(), name);
			await writeFile(path, bytes);
			const outcome = await endsTyped(() => SafetensorsFile.open(path), [SafetensorsError], name);
			if (outcome instanceof SafetensorsFile) await outcome.close();
			assert.equal(!(outcome instanceof Error), VALID.has(name), `${name}: ${outcome instanceof Error ? outcome.message : "opened"}`);
			if (outcome instanceof Error) assert.match(outcome.message, new RegExp(`${name}: `), "the message names the file");
		}
	});

	it("survives mutations of the seeds (bytes flipped, cut, inserted, length prefix replaced)", async () => {
		await fc.assert(
			fc.asyncProperty(fc.constantFrom(...corpus.keys()), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (name, mutations) => {
				await check(mutations.reduce<Uint8Array>((bytes, m) => mutate(bytes, m), new Uint8Array(corpus.get(name)!)), `${name} mutated ${JSON.stringify(mutations, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
			}),
			{ numRuns: RUNS },
		);
	});

	it("survives headers with arbitrary values for dtype, shape and offsets, and any data length", async () => {
		await fc.assert(
			fc.asyncProperty(header, fc.nat(96), async (h, dataBytes) => {
				const json = new TextEncoder().encode(JSON.stringify(h));
				const bytes = new Uint8Array(8 + json.length + dataBytes);
				new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
				bytes.set(json, 8);
				await check(bytes, JSON.stringify(h));
			}),
			{ numRuns: RUNS },
		);
	});
});
