import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ComputeEngine } from "../../src/kernels/index.js";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { ReferenceLinearBackend } from "../../src/model/reference-linear.js";
import { tempDir } from "../merge/helpers.js";
import { LORA, allTensors, compareWithPeft, loraCases } from "./helpers.js";

const cases = await loraCases();

describe("apply-lora equals peft's merge_and_unload (fixtures made by peft 0.21)", () => {
	let engine: ComputeEngine;
	let tmp: string;
	before(async () => {
		engine = await ComputeEngine.create({ threads: 2 });
		tmp = await tempDir("moe-merge-lora-");
	});
	after(async () => {
		await engine.close();
		await rm(tmp, { recursive: true, force: true });
	});

	for (const c of cases) {
		for (const path of ["kernels", "reference"] as const) {
			it(`${c.name} (${path})`, async () => {
				const out = join(tmp, `${c.name}-${path}`);
				const result = await applyLora({ model: c.base, adapters: c.adapters, outputDir: out, backend: path === "kernels" ? engine : new ReferenceLinearBackend() });
				assert.equal(result.editedTensors, c.changed.length);
				const expected = await allTensors(join(LORA, c.name));
				assert.deepEqual([...expected.keys()].sort(), c.changed);
				const { maxUlps, problems, identical } = await compareWithPeft(out, c.base, expected);
				assert.deepEqual(problems, []);
				assert.ok(maxUlps <= 2, `${maxUlps} ulps`);
				assert.ok(identical > 0);
			});
		}
	}

	// The fused fold (foldLinear: add and rounding in WebAssembly) writes what the JavaScript path writes with the same products.
	for (const c of cases) {
		for (const dtype of [undefined, "F32", "BF16"] as const) {
			it(`${c.name}: the fused fold's files equal the unfused path's${dtype ? ` (--dtype ${dtype})` : ""}`, async () => {
				const unfused = { packLinear: engine.packLinear.bind(engine), linear: engine.linear.bind(engine), free: engine.free.bind(engine) };
				let folds = 0;
				const fusing = { ...unfused, foldLinear: (...args: Parameters<ComputeEngine["foldLinear"]>) => (folds++, engine.foldLinear(...args)) };
				const outs = [join(tmp, `${c.name}-fused-${dtype}`), join(tmp, `${c.name}-unfused-${dtype}`)];
				await applyLora({ model: c.base, adapters: c.adapters, outputDir: outs[0], backend: fusing, dtype });
				// DoRA rescales whole rows, and f16 weights are not read by the kernel: those take the JavaScript path.
				assert.equal(folds > 0, !["dora", "tied-f16"].includes(c.name), `${folds} folds`);
				await applyLora({ model: c.base, adapters: c.adapters, outputDir: outs[1], backend: unfused, dtype });
				const [fused, plain] = [await allTensors(outs[0]), await allTensors(outs[1])];
				for (const [name, bytes] of plain) assert.ok(Buffer.from(bytes).equals(Buffer.from(fused.get(name)!)), name);
			});
		}
	}
});
