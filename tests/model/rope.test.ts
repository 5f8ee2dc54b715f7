/**
 * Rotary tables against transformers' rotary embedding classes (tests/fixtures/hidden-extra/rope-tables.json,
 * made by rope_probe.py): inverse frequencies bit for bit, cos/sin within 2 f32 ulps (torch's vectorised
 * cos/sin are not always correctly rounded), for every rope type.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { normaliseDenseConfig } from "../../src/inputs/dense-config.js";
import { buildRope } from "../../src/model/index.js";
import { FIXTURES } from "./helpers.js";

interface ProbeCase {
	name: string;
	config: Record<string, unknown>;
	seq_len: number;
	inv_freq: number[];
	attention_scaling: number;
	rows: number[];
	cos: number[][];
	sin: number[][];
}

const probe = JSON.parse(await readFile(join(FIXTURES, "hidden-extra/rope-tables.json"), "utf8")) as { cases: ProbeCase[] };

for (const c of probe.cases) {
	test(`rope ${c.name} matches transformers`, () => {
		const rope = buildRope(normaliseDenseConfig(c.config, "config.json"));
		assert.deepEqual(Array.from(rope.invFreq(c.seq_len)), c.inv_freq);
		const { cos, sin } = rope.tables(c.seq_len);
		const half = rope.half;
		c.rows.forEach((t, r) => {
			for (let i = 0; i < 2 * half; i++) {
				// transformers' tables repeat the frequencies over both halves of the head.
				const ulp = 2 * 2 ** -23 * Math.max(c.attention_scaling, 1);
				assert.ok(Math.abs(cos[t * half + (i % half)]! - c.cos[r]![i]!) <= ulp, `cos[${t}][${i}]`);
				assert.ok(Math.abs(sin[t * half + (i % half)]! - c.sin[r]![i]!) <= ulp, `sin[${t}][${i}]`);
			}
		});
	});
}

test("the rope probe covers every rope type", () => {
	const types = new Set(probe.cases.map((c) => {
		const s = c.config.rope_scaling as { rope_type?: string; type?: string } | undefined;
		return s?.rope_type ?? s?.type ?? "default";
	}));
	assert.deepEqual([...types].sort(), ["default", "dynamic", "linear", "llama3", "longrope", "yarn"]);
});
