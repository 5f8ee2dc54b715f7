import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "./helpers.js";

test("src/kernels/generated/kernels-wasm.ts is up to date with kernels.wat (else run `node scripts/build-wasm.mjs`)", async () => {
	const script = await import(pathToFileURL(join(REPO_ROOT, "scripts", "build-wasm.mjs")).href);
	const expected: string = await script.generateKernelsModule();
	const current = await readFile(join(REPO_ROOT, "src", "kernels", "generated", "kernels-wasm.ts"), "utf8");
	assert.ok(current === expected, "generated kernels are stale: run `node scripts/build-wasm.mjs` (npm run build does)");
});

test("the plain-SIMD rewrite of relaxed_madd", async () => {
	const { toPlainSimd } = await import(pathToFileURL(join(REPO_ROOT, "scripts", "build-wasm.mjs")).href);
	assert.equal(
		toPlainSimd("(local.set $c (f32x4.relaxed_madd (local.get $a) ;; x\n (v128.load offset=16 (local.get $b)) (local.get $c)))"),
		"(local.set $c (f32x4.add (f32x4.mul (local.get $a) (v128.load offset=16 (local.get $b))) (local.get $c)))",
	);
	assert.equal(
		toPlainSimd(";; (f32x4.relaxed_madd a b c) in a comment\n(f32x4.relaxed_madd (f32x4.relaxed_madd $x $y $z) $b $c)"),
		";; (f32x4.relaxed_madd a b c) in a comment\n(f32x4.add (f32x4.mul (f32x4.add (f32x4.mul $x $y) $z) $b) $c)",
	);
	assert.throws(() => toPlainSimd("(f32x4.relaxed_madd $a $b)"), /exactly 3 folded operands|expected an operand/);
});

test("src/kernels/generated/quantize-wasm.ts is up to date with quantize.wat (else run `node scripts/build-wasm.mjs`)", async () => {
	const script = await import(pathToFileURL(join(REPO_ROOT, "scripts", "build-wasm.mjs")).href);
	const expected: string = await script.generateQuantizeModule();
	const current = await readFile(join(REPO_ROOT, "src", "kernels", "generated", "quantize-wasm.ts"), "utf8");
	assert.ok(current === expected, "generated quantizers are stale: run `node scripts/build-wasm.mjs` (npm run build does)");
});
