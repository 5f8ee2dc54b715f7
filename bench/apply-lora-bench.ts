/**
 * apply-lora benchmark: a rank-r LoRA on every linear layer of a generated bf16 model of a real shape
 * (dense TinyLlama by default; `--moe` merges 4 of them into a 4x TinyLlama Mixtral first and the adapter
 * also covers every expert and the router), folded in by `moe-merge apply-lora`, next to the same
 * command with an adapter on one small matrix (the cost of writing the same bytes) and, when the oracle
 * venv is there, peft's from_pretrained + PeftModel + merge_and_unload + save_pretrained, in the same run.
 *
 * On a shared machine the two apply-lora runs are repeated, interleaved (`--repeat`, default 2), and
 * each one's fastest run is reported, with the load average before and after.
 *
 *   npm run bench:lora -- [--shape tinyllama] [--moe] [--rank 16] [--repeat 2] [--dir /tmp/moe-merge-bench] [--no-peft]
 */
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { homedir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ModelWeights, ShardWriter, planShards } from "../src/safetensors/index.js";
import { CLI, SHAPES, ensureModels, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "tinyllama" },
		moe: { type: "boolean", default: false },
		rank: { type: "string", default: "16" },
		repeat: { type: "string", default: "2" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		"no-peft": { type: "boolean", default: false },
	},
});
const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const rank = Number(values.rank);
const root = resolve(values.dir as string, values.shape as string);
const PYTHON = join(homedir(), ".cache/hfref/venv5/bin/python");

/** A peft-format adapter (float32 factors, small random values) on every 2-D weight `pick` selects. */
async function writeAdapter(dir: string, model: string, pick: (name: string) => boolean, targets: string[]): Promise<number> {
	// Written again on every run (the shard writer never overwrites).
	await rm(dir, { recursive: true, force: true });
	await mkdir(dir, { recursive: true });
	const weights = await ModelWeights.open(model);
	const specs = [];
	let flops = 0;
	for (const name of weights.names()) {
		const { shape: s } = weights.get(name).info;
		if (s.length !== 2 || !pick(name)) continue;
		const module = `base_model.model.${name.replace(/\.weight$/, "")}`;
		specs.push({ name: `${module}.lora_A.weight`, dtype: "F32" as const, shape: [rank, s[1]] }, { name: `${module}.lora_B.weight`, dtype: "F32" as const, shape: [s[0], rank] });
		flops += 2 * rank * s[0] * s[1];
	}
	await weights.close();
	const [shard] = planShards(specs, Number.MAX_SAFE_INTEGER, { format: "pt" });
	const writer = await ShardWriter.create(dir, { ...shard, fileName: "adapter_model.safetensors" }, { format: "pt" });
	let seed = 1;
	for (const { byteLength } of shard.tensors) {
		const values = new Float32Array(byteLength / 4);
		for (let i = 0; i < values.length; i++) values[i] = (((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5) * 0.02;
		await writer.write(new Uint8Array(values.buffer));
	}
	await writer.finish();
	await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: rank, lora_alpha: 2 * rank, target_modules: targets, base_model_name_or_path: null, fan_in_fan_out: false, use_rslora: false, use_dora: false, bias: "none", task_type: "CAUSAL_LM" }, null, 2));
	return flops;
}

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const [dense] = await ensureModels(root, shape, values.moe ? 4 : 1, 1);
	let model = dense;
	if (values.moe) {
		model = join(root, "moe4");
		if (!existsSync(join(model, "config.json"))) {
			const recipe = join(root, "moe4.yml");
			await writeFile(recipe, [`base_model: ${dense}`, "gate_mode: random", "dtype: bfloat16", "experts:", ...[0, 1, 2, 3].map((i) => `  - source_model: ${join(root, "models", i === 0 ? "m0" : `link${i}`)}`), ""].join("\n"));
			timeCommand("node", [CLI, recipe, model, "--random-seed", "1", "--i-understand-this-is-not-useful-without-training"]);
		}
	}
	const linear = (n: string) => /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|w1|w2|w3|gate)\.weight$/.test(n);
	const all = join(root, `lora-r${rank}${values.moe ? "-moe" : ""}`);
	const one = join(root, `lora-one${values.moe ? "-moe" : ""}`);
	const flops = await writeAdapter(all, model, linear, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "w1", "w2", "w3", "gate"]);
	await writeAdapter(one, model, (n) => n === "model.layers.0.self_attn.k_proj.weight", ["k_proj"]);
	warmPageCache([model]);
	const out = join(root, "lora-out");
	const ours = (adapter: string) => {
		const r = timeCommand("node", [CLI, "apply-lora", model, adapter, "-o", out, "--overwrite", "--json"]);
		return { ...r, stdout: undefined, result: JSON.parse(r.stdout) as { bytes: number; editedTensors: number } };
	};
	const loadBefore = loadavg().map((l) => +l.toFixed(1));
	const fastest = (runs: ReturnType<typeof ours>[]) => runs.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
	const copies = [];
	const applies = [];
	for (let i = 0; i < Math.max(1, Number(values.repeat)); i++) {
		copies.push(ours(one));
		applies.push(ours(all));
	}
	const copy = fastest(copies);
	const applied = fastest(applies);
	let peft: ReturnType<typeof timeCommand> | undefined;
	if (!values["no-peft"] && existsSync(PYTHON)) {
		const script = [
			"import sys, torch",
			"from transformers import AutoModelForCausalLM",
			"from peft import PeftModel",
			"m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16)",
			"m = PeftModel.from_pretrained(m, sys.argv[2]).merge_and_unload()",
			"m.save_pretrained(sys.argv[3], max_shard_size='5GB')",
		].join("\n");
		await rm(join(root, "peft-out"), { recursive: true, force: true });
		peft = timeCommand(PYTHON, ["-c", script, model, all, join(root, "peft-out")], { ...process.env, HF_HUB_OFFLINE: "1" });
	}
	await rm(out, { recursive: true, force: true });
	await rm(join(root, "peft-out"), { recursive: true, force: true });
	const gb = applied.result.bytes / 1e9;
	console.log(JSON.stringify({
		model,
		outputGB: +gb.toFixed(2),
		rank,
		editedTensors: applied.result.editedTensors,
		gflopBA: +(flops / 1e9).toFixed(1),
		loadAverage: { before: loadBefore, after: loadavg().map((l) => +l.toFixed(1)) },
		allWallSeconds: { applyLora: applies.map((r) => r.wallSeconds), sameBytes: copies.map((r) => r.wallSeconds) },
		applyLora: { wallSeconds: applied.wallSeconds, coreSeconds: applied.coreSeconds, peakRssMB: applied.peakRssMB },
		sameBytesOneSmallLora: { wallSeconds: copy.wallSeconds, coreSeconds: copy.coreSeconds, peakRssMB: copy.peakRssMB },
		...(peft && { peft: { wallSeconds: peft.wallSeconds, coreSeconds: peft.coreSeconds, peakRssMB: peft.peakRssMB } }),
		ratioToSameBytes: +(applied.wallSeconds / copy.wallSeconds).toFixed(2),
		...(peft && { ratioToPeft: +(applied.wallSeconds / peft.wallSeconds).toFixed(2) }),
	}, null, 2));
}

await main();
