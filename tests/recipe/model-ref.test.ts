/** Model reference classification: hub, local folder, base+lora, and what is refused. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RecipeError } from "../../src/errors.js";
import { modelKey, parseModelRef } from "../../src/recipe/index.js";
import type { ModelRef } from "../../src/recipe/index.js";

let base = "";

before(() => {
	base = mkdtempSync(join(tmpdir(), "moe-merge-refs-"));
	for (const dir of ["bare-folder", "local-org/local-name", "models/c++-coder", "models/plain", "models/tagged@v2"]) {
		mkdirSync(join(base, dir), { recursive: true });
	}
});

after(() => rmSync(base, { recursive: true, force: true }));

const hub = (repo: string, text: string, revision?: string): ModelRef => (revision === undefined ? { kind: "hub", repo, text } : { kind: "hub", repo, revision, text });
const local = (relative: string, text: string): ModelRef => ({ kind: "local", path: join(base, relative), text });

describe("parseModelRef", () => {
	const cases: [string, () => ModelRef][] = [
		["mistralai/Mistral-7B-v0.1", () => hub("mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1")],
		["Qwen/Qwen2.5-1.5B-Instruct", () => hub("Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct")],
		["org/name@main", () => hub("org/name", "org/name@main", "main")],
		["org/name@0123456789abcdef0123456789abcdef01234567", () => hub("org/name", "org/name@0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567")],
		["org/name@refs/pr/3", () => hub("org/name", "org/name@refs/pr/3", "refs/pr/3")],
		["org_1/my.model-v2_final", () => hub("org_1/my.model-v2_final", "org_1/my.model-v2_final")],
		["./models/x", () => local("models/x", "./models/x")],
		["../x", () => ({ kind: "local", path: join(base, "..", "x"), text: "../x" })],
		["/abs/model", () => ({ kind: "local", path: "/abs/model", text: "/abs/model" })],
		["~/models/m", () => ({ kind: "local", path: join(homedir(), "models/m"), text: "~/models/m" })],
		["~", () => ({ kind: "local", path: homedir(), text: "~" })],
		["bare-folder", () => local("bare-folder", "bare-folder")],
		["not-a-folder", () => local("not-a-folder", "not-a-folder")],
		["a/b/c", () => local("a/b/c", "a/b/c")],
		["models\\win", () => local("models\\win", "models\\win")],
		["local-org/local-name", () => local("local-org/local-name", "local-org/local-name")],
		["local-org/local-name@v1", () => local("local-org/local-name", "local-org/local-name@v1")],
		["models/c++-coder", () => local("models/c++-coder", "models/c++-coder")],
		["./models/plain@v3", () => local("models/plain", "./models/plain@v3")],
		["./models/tagged@v2", () => local("models/tagged@v2", "./models/tagged@v2")],
		["org/base+org/lora", () => ({ kind: "lora", base: hub("org/base", "org/base"), lora: hub("org/lora", "org/lora"), text: "org/base+org/lora" })],
		["./base+./lora", () => ({ kind: "lora", base: local("base", "./base"), lora: local("lora", "./lora"), text: "./base+./lora" })],
		["org/base@v1+org/lora@v2", () => ({ kind: "lora", base: hub("org/base", "org/base@v1", "v1"), lora: hub("org/lora", "org/lora@v2", "v2"), text: "org/base@v1+org/lora@v2" })],
	];
	for (const [text, expected] of cases) {
		it(`classifies ${JSON.stringify(text)}`, () => assert.deepEqual(parseModelRef(text, base), expected()));
	}

	const refused: [string, RegExp][] = [
		["", /empty model reference/],
		["   ", /empty model reference/],
		["my org/model", /not a valid Hugging Face repo id/],
		["-org/model", /not a valid Hugging Face repo id/],
		["org/na--me", /"--" and "\.\." are not allowed/],
		["org/na..me", /"--" and "\.\." are not allowed/],
		[`org/${"n".repeat(97)}`, /longer than 96 characters/],
		["org/name@", /invalid revision ""/],
		["org/name@a b", /invalid revision "a b"/],
		["org/name@v1@v2", /more than one "@"/],
		["a+b+c", /more than one "\+"/],
		["+org/lora", /both parts/],
		["org/base+", /both parts/],
	];
	for (const [text, message] of refused) {
		it(`refuses ${JSON.stringify(text.length > 30 ? `${text.slice(0, 30)}...` : text)}`, () => {
			assert.throws(
				() => parseModelRef(text, base),
				(e: unknown) => e instanceof RecipeError && message.test(e.message),
			);
		});
	}

	it("accepts a 96-character repo name", () => {
		assert.equal(parseModelRef(`org/${"n".repeat(96)}`, base).kind, "hub");
	});

	it("never throws anything but RecipeError for odd text", () => {
		for (const text of ["\0", "a\0/b", `${"x/".repeat(5000)}`, "::", "@", "/", "org/", "/name"]) {
			try {
				parseModelRef(text, base);
			} catch (e) {
				assert.ok(e instanceof RecipeError, String(e));
			}
		}
	});
});

describe("modelKey: one key for the same-model rule, resolution and the lock", () => {
	const key = (text: string) => modelKey(parseModelRef(text, base));
	const cases: [string, string, boolean][] = [
		["org/a", "org/a@main", true],
		["org/a", "org/a@v2", false],
		["org/a@main", "org/b@main", false],
		["./models/plain", "models/../models/plain", true],
		["./models/plain", "org/plain", false],
	];
	for (const [a, b, same] of cases) {
		it(`${a} ${same ? "=" : "!="} ${b}`, () => assert.equal(key(a) === key(b), same));
	}
});
