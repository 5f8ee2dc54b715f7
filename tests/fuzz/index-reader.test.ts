/**
 * Whatever model.safetensors.index.json says, opening the model ends in a SafetensorsError or in
 * weights read only from files inside the model folder (the HF cache's snapshot symlinks into blobs/
 * stay fine: they are files of the folder that the OS resolves).
 */
import assert from "node:assert/strict";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { SafetensorsError } from "../../src/errors.js";
import { ModelWeights } from "../../src/safetensors/index.js";
import { RUNS, caseCounter, endsTyped, seeds, tempDir } from "./helpers.js";

const count = caseCounter("index reader");
const corpus = seeds("index");
const SHARD = "model-00001-of-00001.safetensors";
const INDEX = "model.safetensors.index.json";
/** Seeds naming only tensors the shard holds, inside the folder. */
const VALID = new Set(["valid.json"]);

const root = await tempDir();
const modelDir = join(root, "model");
const outside = join(root, "outside.safetensors");

before(async () => {
	const safetensors = seeds("safetensors");
	await mkdir(modelDir);
	// The shard holds tensors a and b; the file outside holds the same names, so a read outside would go unnoticed by names alone.
	await writeFile(join(modelDir, SHARD), safetensors.get("valid.safetensors")!);
	await writeFile(outside, safetensors.get("valid.safetensors")!);
});

async function openWith(indexText: string, what: string): Promise<void> {
	count();
	await writeFile(join(modelDir, INDEX), indexText.replaceAll("ABSOLUTE_OUTSIDE", outside));
	const outcome = await endsTyped(() => ModelWeights.open(modelDir), [SafetensorsError], what);
	if (outcome instanceof Error) return;
	try {
		for (const file of outcome.shards()) {
			const rel = relative(modelDir, file.path);
			assert.ok(rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep), `${what}: read ${file.path}, outside ${modelDir}`);
		}
	} finally {
		await outcome.close();
	}
}

const shardNames = fc.oneof(
	fc.constantFrom(
		SHARD, `./${SHARD}`, `sub/../${SHARD}`, "../outside.safetensors", "ABSOLUTE_OUTSIDE", "..", ".", "", "/", `..${sep}..${sep}outside.safetensors`,
		"..\\outside.safetensors", "%2e%2e/outside.safetensors", "outside.safetensors", `../model/../outside.safetensors`, INDEX, `${SHARD}\u0000`, "~/outside.safetensors",
	),
	fc.string({ maxLength: 8 }),
	fc.constantFrom(1, null, [], {}, true),
);
const tensorNames = fc.oneof(fc.constantFrom("a", "b", "ghost", "__proto__", "constructor", ""), fc.string({ maxLength: 4 }));

describe("fuzz: the index reader never reads outside the model folder", () => {
	it("refuses every bad seed (.. and absolute paths included) and opens the good one", async () => {
		for (const [name, bytes] of corpus) {
			await openWith(bytes.toString("utf8"), name);
			const outcome = await ModelWeights.open(modelDir).then(async (w) => (await w.close(), "opened"), (e: Error) => e.message);
			assert.equal(outcome === "opened", VALID.has(name), `${name}: ${outcome}`);
		}
	});

	it("survives arbitrary weight maps mixing good, escaping and odd shard names", async () => {
		await fc.assert(
			fc.asyncProperty(fc.dictionary(tensorNames, shardNames, { maxKeys: 4 }), fc.boolean(), async (map, withMetadata) => {
				await openWith(JSON.stringify({ ...(withMetadata && { metadata: { total_size: 22 } }), weight_map: map }), JSON.stringify(map));
			}),
			{ numRuns: RUNS },
		);
	});

	it("survives text edits of the seeds", async () => {
		const texts = [...corpus.values()].map((b) => b.toString("utf8")).filter((t) => t.length < 1000);
		await fc.assert(
			fc.asyncProperty(fc.constantFrom(...texts), fc.nat(), fc.nat(8), fc.constantFrom("", "..", "/", "\\", '"', "{", "}", "[", "]", ",", ":", "\\u0000", "../", "null"), async (text, at, remove, insert) => {
				const start = at % (text.length + 1);
				await openWith(text.slice(0, start) + insert + text.slice(start + remove), `${text} edited at ${start}`);
			}),
			{ numRuns: RUNS },
		);
	});

	it("accepts a Hugging Face cache snapshot whose files are symlinks into ../../blobs", async () => {
		count();
		const repo = join(root, "models--org--name");
		const snapshot = join(repo, "snapshots", "0123456789abcdef0123456789abcdef01234567");
		await mkdir(join(repo, "blobs"), { recursive: true });
		await mkdir(snapshot, { recursive: true });
		await writeFile(join(repo, "blobs", "shardblob"), await readFile(join(modelDir, SHARD)));
		await writeFile(join(repo, "blobs", "indexblob"), corpus.get("valid.json")!);
		await symlink(join("..", "..", "blobs", "shardblob"), join(snapshot, SHARD));
		await symlink(join("..", "..", "blobs", "indexblob"), join(snapshot, INDEX));
		const weights = await ModelWeights.open(snapshot);
		assert.deepEqual(weights.names().sort(), ["a", "b"]);
		await weights.close();
	});
});
