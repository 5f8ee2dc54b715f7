/** The gate-mode table: every rule about gate modes reads it, and the schema offers exactly its modes. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { GATE_MODES, type GateMode, isRandomGateMode, readsHiddenStates, schemaPath, usesPrompts } from "../../src/recipe/index.js";

describe("gate modes", () => {
	// mode, needs prompts, runs the forward pass, random
	const cases: [GateMode, boolean, boolean, boolean][] = [
		["hidden", true, true, false],
		["hidden_last", true, true, false],
		["hidden_avg", true, true, false],
		["cheap_embed", true, false, false],
		["random", false, false, true],
		["uniform_random", false, false, true],
	];
	for (const [mode, prompts, hidden, random] of cases) {
		it(mode, () => {
			assert.equal(usesPrompts(mode), prompts);
			assert.equal(readsHiddenStates(mode), hidden);
			assert.equal(isRandomGateMode(mode), random);
		});
	}

	it("the table and the cases above cover the same modes as the recipe schema", () => {
		const schema = JSON.parse(readFileSync(schemaPath(), "utf8")) as { properties: { gate_mode: { enum: (string | null)[] } } };
		const offered = schema.properties.gate_mode.enum.filter((m) => m !== null).sort();
		assert.deepEqual(Object.keys(GATE_MODES).sort(), offered);
		assert.deepEqual(cases.map(([m]) => m).sort(), offered);
	});
});
