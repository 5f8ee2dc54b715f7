/**
 * extract: dense models merged into an MoE (every output architecture, both expert layouts) and
 * extracted again are the originals, tensors byte for byte and the config values that matter; the
 * shared expert is added only where exact; bad requests write nothing.
 */
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runExtract } from "../../src/extract/run-extract.js";
import { MoeMergeError } from "../../src/errors.js";
import { toFloat32 } from "../../src/safetensors/index.js";
import { verifyCheckpoint } from "../../src/verify/index.js";
import { runCli, tempDir } from "../merge/helpers.js";
import { sameBytes } from "../merge/tensor-compare.js";
import { LLAMA_A, LLAMA_B, LLAMA_BASE, QWEN2, QWEN3, allTensors, assertSameDenseConfig, assertSameTensors, mergeMoe } from "./helpers.js";

const extract = (moe: string, out: string, expert: number, sharedExpert?: boolean) => runExtract({ label: moe, dir: moe }, { expert, outputDir: out, sharedExpert });

describe("extract round trip", () => {
	for (const layout of ["per-expert", "fused"] as const) {
		it(`mixtral, ${layout}: every expert back, the base's attention and the expert's MLP, bit for bit; verify passes`, async () => {
			const dir = await tempDir();
			const moe = join(dir, "moe");
			await mergeMoe(dir, moe, { architecture: "mixtral", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_BASE, LLAMA_B], layout });
			for (const [e, original] of [LLAMA_A, LLAMA_BASE, LLAMA_B].entries()) {
				const out = join(dir, `expert-${e}`);
				const result = await extract(moe, out, e);
				assert.equal(result.modelType, "llama");
				await assertSameTensors(out, LLAMA_BASE, original);
				await assertSameDenseConfig(out, LLAMA_BASE);
				const report = await verifyCheckpoint(out);
				assert.deepEqual(report.problems, []);
				assert.ok((report.hashedFiles ?? 0) > 0, "the lock's hashes were checked");
				assert.equal(await readFile(join(out, "tokenizer.json"), "utf8"), await readFile(join(LLAMA_BASE, "tokenizer.json"), "utf8"));
				const lock = JSON.parse(await readFile(join(out, "moe-merge.lock.json"), "utf8"));
				assert.equal(lock.sources[0].role, "moe");
				assert.ok(lock.sources[0].files.some((f: { path: string; sha256: string }) => f.path === "model.safetensors" && /^[0-9a-f]{64}$/.test(f.sha256)));
			}
		});
	}

	it("qwen2_moe (fused) and qwen3_moe: the Qwen2 / Qwen3 model merged in comes back whole, config included", async () => {
		const dir = await tempDir();
		for (const [arch, model, layout] of [["qwen2_moe", QWEN2, "fused"], ["qwen3_moe", QWEN3, "per-expert"]] as const) {
			const moe = join(dir, arch);
			await mergeMoe(dir, moe, { architecture: arch, base: model, experts: [model, model], shared: arch === "qwen2_moe" ? [model] : undefined, layout });
			const out = join(dir, `${arch}-1`);
			const result = await extract(moe, out, 1);
			assert.equal(result.modelType, arch === "qwen2_moe" ? "qwen2" : "qwen3");
			await assertSameTensors(out, model);
			await assertSameDenseConfig(out, model);
			// These fixtures have no tokenizer to copy.
			assert.deepEqual((await verifyCheckpoint(out, { tokenizer: false })).problems, []);
		}
	});

	it("deepseek: an expert alone, and with the ungated shared expert added as a wider MLP (gate/up rows stacked, down columns side by side)", async () => {
		const dir = await tempDir();
		const moe = join(dir, "moe");
		await mergeMoe(dir, moe, { architecture: "deepseek_moe", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_BASE], shared: [LLAMA_B] });
		const alone = join(dir, "alone");
		await extract(moe, alone, 1);
		await assertSameTensors(alone, LLAMA_BASE);
		await assertSameDenseConfig(alone, LLAMA_BASE);
		const wide = join(dir, "wide");
		const result = await extract(moe, wide, 0, true);
		assert.equal(result.intermediateSize, 128);
		const [ours, a, b] = await Promise.all([allTensors(wide), allTensors(LLAMA_A), allTensors(LLAMA_B)]);
		const H = 32;
		const I = 64;
		for (let l = 0; l < 2; l++) {
			for (const p of ["gate_proj", "up_proj"]) {
				const name = `model.layers.${l}.mlp.${p}.weight`;
				assert.deepEqual(ours.get(name)!.shape, [2 * I, H]);
				assert.ok(sameBytes(ours.get(name)!.bytes, Buffer.concat([a.get(name)!.bytes, b.get(name)!.bytes])), name);
			}
			const down = `model.layers.${l}.mlp.down_proj.weight`;
			const wideDown = toFloat32(ours.get(down)!.bytes, "BF16", H * 2 * I);
			const [aDown, bDown] = [a, b].map((m) => toFloat32(m.get(down)!.bytes, "BF16", H * I));
			for (let r = 0; r < H; r++) {
				assert.deepEqual(wideDown.subarray(r * 2 * I, r * 2 * I + I), aDown.subarray(r * I, (r + 1) * I));
				assert.deepEqual(wideDown.subarray(r * 2 * I + I, (r + 1) * 2 * I), bDown.subarray(r * I, (r + 1) * I));
			}
		}
		const config = JSON.parse(await readFile(join(wide, "config.json"), "utf8"));
		assert.equal(config.intermediate_size, 128);
		assert.deepEqual((await verifyCheckpoint(wide)).problems, []);
	});
});

describe("extract refusals: exit 1, nothing written", () => {
	it("an expert index out of range, a Qwen MoE's gated shared expert, a DeepSeek layer that is dense", async () => {
		const dir = await tempDir();
		const qwen = join(dir, "qwen");
		await mergeMoe(dir, qwen, { architecture: "qwen2_moe", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_B], shared: [LLAMA_BASE] });
		const deepseek = join(dir, "deepseek");
		await mergeMoe(dir, deepseek, { architecture: "deepseek_moe", base: LLAMA_BASE, experts: [LLAMA_A, LLAMA_B] });
		const config = JSON.parse(await readFile(join(deepseek, "config.json"), "utf8"));
		await writeFile(join(deepseek, "config.json"), JSON.stringify({ ...config, first_k_dense_replace: 1 }));
		const cases: [string[], RegExp][] = [
			[[qwen, "--expert", "2"], /there is no expert 2; this Qwen MoE has experts 0 to 1/],
			[[qwen, "--expert", "0", "--shared-expert"], /sigmoid\(gate · x\).*not be exact/],
			[[deepseek, "--expert", "0"], /layer 0 of this DeepSeek MoE is dense/],
			[[LLAMA_BASE, "--expert", "0"], /model_type "llama" is not an MoE architecture/],
		];
		for (const [args, message] of cases) {
			const out = join(dir, "out");
			const result = await runCli(["extract", ...args, "-o", out]);
			assert.equal(result.code, 1, result.stderr);
			assert.match(result.stderr, message);
			assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
			assert.deepEqual((await readdir(dir)).filter((n) => n.includes("out")), [], "no output and no partial folder");
		}
		await assert.rejects(extract(qwen, join(dir, "lib"), -1), MoeMergeError);
	});
});
