import assert from "node:assert/strict";
import { cp, readFile, readdir, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { applyLora } from "../../src/merge/run-apply-lora.js";
import { ReferenceLinearBackend } from "../../src/model/reference-linear.js";
import { runCli, tempDir } from "../merge/helpers.js";
import { LORA, allTensors, compareWithPeft } from "./helpers.js";

const BASE = join(LORA, "..", "dense", "llama-rope-llama3", "base");

describe("apply-lora refuses bad adapters before writing anything", () => {
	let tmp: string;
	before(async () => {
		tmp = await tempDir("moe-merge-lora-bad-");
	});
	after(async () => rm(tmp, { recursive: true, force: true }));

	async function adapterCopy(name: string, from = join(LORA, "plain", "adapter")): Promise<string> {
		const dir = join(tmp, name);
		await cp(from, dir, { recursive: true });
		return dir;
	}

	async function editConfig(dir: string, change: (c: Record<string, unknown>) => void): Promise<void> {
		const file = join(dir, "adapter_config.json");
		const c = JSON.parse(await readFile(file, "utf8"));
		change(c);
		await writeFile(file, JSON.stringify(c));
	}

	async function refused(adapter: string, pattern: RegExp, extra: string[] = [], base = BASE): Promise<void> {
		const out = join(tmp, `out-${adapter.split("/").pop()}`);
		const r = await runCli(["apply-lora", base, adapter, "-o", out, ...extra]);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, pattern);
		assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
		assert.deepEqual((await readdir(tmp)).filter((n) => n.startsWith("out-") || n.startsWith(".out-")), []);
	}

	it("a module the model lacks names the adapter and the tensor", async () => {
		await refused(await adapterCopy("mixtral-on-llama", join(LORA, "mixtral", "adapter")), /adapter .*mixtral-on-llama: changes model\.layers\.0\.block_sparse_moe\.experts\.0\.w1\.weight, which the model does not have/);
	});
	it("a LoRA whose shapes do not fit the model names the adapter and the tensor", async () => {
		const dir = await adapterCopy("other-shape");
		await refused(dir, /adapter .*other-shape: model\.layers\.0\.self_attn\.(\w+): lora_A \[4,64\] and lora_B \[64,4\] make a delta of \[64, 64\], but the model's model\.layers\.0\.self_attn\.\1\.weight is \[(128, 64|64, 128)\]/, [], join(LORA, "..", "dense", "llama-headdim-f32", "base"));
	});
	it("a truncated adapter file", async () => {
		const dir = await adapterCopy("truncated");
		await truncate(join(dir, "adapter_model.safetensors"), 5000);
		await refused(dir, /adapter_model\.safetensors/);
	});
	it("a base+lora model argument says to give the adapter as an argument of its own", async () => {
		const adapter = join(LORA, "plain", "adapter");
		await refused(adapter, /apply-lora takes the model and its adapters as separate arguments, not base\+lora[\s\S]*hint: moe-merge apply-lora /, [], `${BASE}+${adapter}`);
	});
	it("a missing adapter folder is named", async () => {
		await refused(join(tmp, "no-such-adapter"), /LoRA adapter folder .*no-such-adapter does not exist/);
	});
	it("a .bin-only adapter says how to convert it", async () => {
		const dir = await adapterCopy("bin-only");
		await unlink(join(dir, "adapter_model.safetensors"));
		await writeFile(join(dir, "adapter_model.bin"), "not really a pickle");
		await refused(dir, /adapter_model\.bin[\s\S]*save_file/);
	});
	it("another peft type is refused with one line naming it", async () => {
		const dir = await adapterCopy("ia3");
		await editConfig(dir, (c) => (c.peft_type = "IA3"));
		await refused(dir, /peft_type "IA3" is not supported/);
	});
	it("an adapter made for another model: a warning, an error with --locked", async () => {
		const dir = await adapterCopy("other-base");
		await editConfig(dir, (c) => (c.base_model_name_or_path = "someone/another-model"));
		await refused(dir, /trained on someone\/another-model/, ["--locked"]);
		// A model with a tokenizer, so that the output passes verify as a whole.
		const model = join(tmp, "model-with-tokenizer");
		await cp(BASE, model, { recursive: true });
		await cp(join(LORA, "..", "tokenizers", "mistral"), model, { recursive: true });
		const out = join(tmp, "warned");
		const r = await runCli(["apply-lora", model, dir, "-o", out]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stderr, /warning: adapter .* trained on someone\/another-model/);
		const verify = await runCli(["verify", out]);
		assert.equal(verify.code, 0, verify.stderr);
		await rm(out, { recursive: true });
	});
	it("fan_in_fan_out on Linear layers changes nothing, as in peft (which resets it for nn.Linear)", async () => {
		const dir = await adapterCopy("fan-in-fan-out");
		await editConfig(dir, (c) => (c.fan_in_fan_out = true));
		const out = join(tmp, "fifo");
		await applyLora({ model: BASE, adapters: [dir], outputDir: out, backend: new ReferenceLinearBackend() });
		const { problems } = await compareWithPeft(out, BASE, await allTensors(join(LORA, "plain")));
		assert.deepEqual(problems, []);
	});
});
