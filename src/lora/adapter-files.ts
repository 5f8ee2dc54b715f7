/**
 * A peft LoRA adapter folder: its config and the tensors of adapter_model.safetensors (read with our own
 * safetensors reader), grouped by the module they change. peft's key forms (after `base_model.model.`):
 * `<module>.lora_A.weight` / `.lora_B.weight` (Linear, and `target_parameters` wrappers, nested with one
 * `.base_layer` per later parameter), `<module>.lora_embedding_A` / `_B` (Embedding),
 * `<module>.lora_magnitude_vector` (DoRA), and anything else a full tensor that replaces the model's
 * (`modules_to_save`, embedding layers saved with the adapter as `<module>.base_layer.weight`).
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { MoeMergeError } from "../errors.js";
import { SafetensorsFile, type TensorInfo, isFloatDType, toFloat32 } from "../safetensors/index.js";
import { type LoraAdapterConfig, readAdapterConfig } from "./adapter-config.js";

import { ADAPTER_WEIGHTS_FILE } from "../checkpoint/side-files.js";

export { ADAPTER_WEIGHTS_FILE };
const PREFIX = "base_model.model.";

export type FactorKind = "linear" | "embedding" | "param";

/** The low-rank factors peft saved for one module (or one parameter of it). */
export interface LoraFactors {
	kind: FactorKind;
	/** transformers' module name, e.g. `model.layers.0.self_attn.q_proj` (`.base_layer`s removed). */
	module: string;
	/** `target_parameters` wrappers: how many `.base_layer`s the key had (nesting order). */
	depth: number;
	a: TensorInfo;
	b: TensorInfo;
	magnitude?: TensorInfo;
}

export interface LoraAdapter {
	/** The folder, as the user named it (messages). */
	name: string;
	dir: string;
	config: LoraAdapterConfig;
	file: SafetensorsFile;
	factors: LoraFactors[];
	/** Full tensors that replace the model's, by the model's tensor name. */
	replacements: Map<string, TensorInfo>;
}

export function adapterError(adapter: string, message: string, hint?: string): MoeMergeError {
	return new MoeMergeError(`adapter ${adapter}: ${message}`, { file: adapter, hint });
}

const FACTOR = /^(.*?)((?:\.base_layer)*)\.(lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B|lora_magnitude_vector(?:\.weight)?)$/;

/** Opens an adapter folder: config checked, safetensors header validated, keys grouped. Nothing is read beyond headers. */
export async function openAdapter(dir: string, name = dir): Promise<LoraAdapter> {
	const config = await readAdapterConfig(dir);
	const path = join(dir, ADAPTER_WEIGHTS_FILE);
	if (!(await isFile(path))) {
		if (await isFile(join(dir, "adapter_model.bin"))) {
			throw adapterError(name, `has only adapter_model.bin (a pickle, which moe-merge does not read)`,
				`convert it once: python -c "import torch; from safetensors.torch import save_file; save_file(torch.load('${join(dir, "adapter_model.bin")}', map_location='cpu', weights_only=True), '${path}', metadata={'format': 'pt'})"`);
		}
		throw adapterError(name, `no ${ADAPTER_WEIGHTS_FILE}`);
	}
	const file = await SafetensorsFile.open(path);
	try {
		const { factors, replacements } = groupKeys(name, file);
		return { name, dir, config, file, factors, replacements };
	} catch (error) {
		await file.close();
		throw error;
	}
}

function groupKeys(name: string, file: SafetensorsFile): { factors: LoraFactors[]; replacements: Map<string, TensorInfo> } {
	const byModule = new Map<string, Partial<LoraFactors> & { module: string; depth: number }>();
	const replacements = new Map<string, TensorInfo>();
	for (const info of file.header.tensors.values()) {
		const key = info.name.startsWith(PREFIX) ? info.name.slice(PREFIX.length) : info.name;
		if (/\.lora_[AB]\.bias$/.test(key)) throw adapterError(name, `${info.name}: LoRA biases (lora_bias) are not supported`);
		const match = FACTOR.exec(key);
		if (!match) {
			if (/\.lora_[A-Za-z_]+/.test(key)) throw adapterError(name, `${info.name}: not a LoRA tensor moe-merge knows (lora_A, lora_B, lora_embedding_A/B, lora_magnitude_vector)`);
			// modules_to_save and saved embedding layers: a whole tensor of the model.
			replacements.set(key.replace(/\.base_layer\./g, "."), info);
			continue;
		}
		const [, module, bases, part] = match;
		const depth = bases.length / ".base_layer".length;
		const id = `${module}#${depth}`;
		const entry = byModule.get(id) ?? { module, depth };
		byModule.set(id, entry);
		const kind: FactorKind = part.startsWith("lora_embedding") ? "embedding" : "linear";
		if (part.startsWith("lora_magnitude")) entry.magnitude = info;
		else {
			if (entry.kind && entry.kind !== kind) throw adapterError(name, `${module}: both lora_A/B and lora_embedding_A/B`);
			entry.kind = kind;
			if (part.endsWith("A") || part === "lora_A.weight") entry.a = info;
			else entry.b = info;
		}
	}
	const factors: LoraFactors[] = [];
	for (const entry of byModule.values()) {
		if (!entry.a || !entry.b) throw adapterError(name, `${entry.module}: has ${entry.a ? "lora_A" : "lora_B"} but no ${entry.a ? "lora_B" : "lora_A"} (truncated or malformed adapter)`);
		for (const t of [entry.a, entry.b, entry.magnitude]) {
			if (t && !isFloatDType(t.dtype)) throw adapterError(name, `${t.name}: dtype ${t.dtype} is not a float dtype moe-merge reads (F32, F16, BF16)`);
		}
		if (entry.a.shape.length !== 2 || entry.b.shape.length !== 2) throw adapterError(name, `${entry.module}: lora_A/B must be matrices, got [${entry.a.shape}] and [${entry.b.shape}]`);
		factors.push(entry as LoraFactors);
	}
	return { factors, replacements };
}

/** A tensor of the adapter as float32. */
export async function readFloats(adapter: LoraAdapter, info: TensorInfo): Promise<Float32Array> {
	const count = info.shape.reduce((a, b) => a * b, 1);
	const bytes = new Uint8Array(info.end - info.begin);
	await adapter.file.read(info, 0, bytes.length, bytes);
	return toFloat32(bytes, info.dtype, count, new Float32Array(count));
}

export async function closeAdapter(adapter: LoraAdapter): Promise<void> {
	await adapter.file.close();
}

async function isFile(path: string): Promise<boolean> {
	return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

