/** schemas/recipe.schema.json: usable by editors, strict, and described field by field. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BUILTIN_ARCHITECTURES } from "../../src/architectures/registry.js";
import { schemaPath } from "../../src/recipe/index.js";
import { repoRoot } from "./helpers.js";

type Schema = { [keyword: string]: unknown };

const file = join(repoRoot(), "schemas", "recipe.schema.json");
const schema = JSON.parse(readFileSync(file, "utf8")) as Schema;

/** Every subschema with the JSON path to it. */
function* subschemas(node: unknown, path: string): Generator<[string, Schema]> {
	if (typeof node !== "object" || node === null) return;
	if (Array.isArray(node)) {
		for (const [i, item] of node.entries()) yield* subschemas(item, `${path}/${i}`);
		return;
	}
	const s = node as Schema;
	yield [path, s];
	for (const key of ["properties", "definitions"]) {
		const children = s[key];
		if (typeof children === "object" && children !== null) {
			for (const [name, child] of Object.entries(children)) yield* subschemas(child, `${path}/${key}/${name}`);
		}
	}
	for (const key of ["items", "anyOf", "allOf"]) if (key in s) yield* subschemas(s[key], `${path}/${key}`);
}

describe("recipe.schema.json", () => {
	it("is the file the parser uses", () => assert.equal(schemaPath(), file));

	it("is draft-07", () => assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#"));

	// Editors offer these; the parser checks `architecture:` against the registry (prefixes match, so no enum).
	it("names the built-in architectures of the registry, in its order", () => {
		const architecture = (schema.properties as Record<string, Schema>).architecture!;
		assert.deepEqual(architecture.examples, BUILTIN_ARCHITECTURES.map((a) => a.displayName));
		const text = String(architecture.description);
		for (const list of [BUILTIN_ARCHITECTURES.map((a) => `\`${a.displayName}\``), BUILTIN_ARCHITECTURES.map((a) => `\`${a.name}\``)]) {
			const at = list.map((name) => text.indexOf(name));
			assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), `${list.join(", ")} in order in: ${text}`);
		}
	});

	it("refuses unknown fields in every mapping", () => {
		for (const [path, s] of subschemas(schema, "#")) {
			const types = Array.isArray(s.type) ? s.type : [s.type];
			if (types.includes("object")) assert.equal(s.additionalProperties, false, path);
		}
	});

	it("describes every field", () => {
		for (const [path, s] of subschemas(schema, "#")) {
			if (!/\/properties\/[^/]+$/.test(path)) continue;
			assert.ok(typeof s.description === "string" && s.description.length >= 20, `${path} needs a description`);
		}
	});

	it("has mergekit's fields, required ones and defaults", () => {
		const props = schema.properties as Record<string, Schema>;
		assert.deepEqual(Object.keys(props), ["base_model", "experts", "gate_mode", "dtype", "experts_per_token", "shared_experts", "architecture", "output_router_logits", "router_aux_loss_coef"]);
		assert.deepEqual(schema.required, ["base_model", "experts"]);
		assert.deepEqual(props.gate_mode.enum, ["hidden", "cheap_embed", "random", "uniform_random", "hidden_avg", "hidden_last", null]);
		assert.equal(props.gate_mode.default, "hidden");
		assert.equal(props.experts_per_token.default, 2);
		assert.equal(props.experts_per_token.minimum, 1);
		assert.equal(props.experts.minItems, 1);
		const expert = (schema.definitions as Record<string, Schema>).expert;
		assert.deepEqual(Object.keys(expert.properties as Schema), ["source_model", "positive_prompts", "negative_prompts", "noise_scale", "residual_scale", "expert"]);
		assert.deepEqual(expert.required, ["source_model"]);
	});

	it("documents the chat prompt extension", () => {
		const prompt = (schema.definitions as Record<string, Schema>).prompt;
		assert.match(String(prompt.description), /messages/);
		assert.match(String(prompt.description), /chat template/);
	});
});
