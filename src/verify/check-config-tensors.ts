import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ShardTensor } from "./open-checkpoint-shards.js";
import { MOE_TENSOR_TABLES, type MoeDims, type MoeTensorTable, type TensorRule } from "./moe-tensor-tables.js";
import type { CheckpointProblem } from "./problem.js";

const CONFIG = "config.json";
/** Buffers some old checkpoints carry that no loader needs. */
const IGNORED = /\.rotary_emb\.inv_freq$/;
/** Kept by some checkpoints with tied embeddings; loaders ignore it. */
const TIED_HEAD = "lm_head.weight";

export interface ConfigCheck {
	problems: CheckpointProblem[];
	/** Why the names could not be checked (an architecture verify has no table for), if so. */
	skipped?: string;
}

/**
 * config.json against the tensors: every name and shape its architecture implies, and nothing else.
 * With `unreadableShards`, the tensors no readable shard holds are a consequence of those shards, and
 * are folded into one problem instead of one per tensor.
 */
export async function checkConfigAgainstTensors(dir: string, tensors: ReadonlyMap<string, ShardTensor>, unreadableShards: readonly string[] = []): Promise<ConfigCheck> {
	let config: Record<string, unknown>;
	try {
		const parsed: unknown = JSON.parse(await readFile(join(dir, CONFIG), "utf8"));
		if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return problem("is not a JSON object");
		config = parsed as Record<string, unknown>;
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		return problem(code === "ENOENT" ? "is missing" : code ? `cannot be read (${code})` : `is not valid JSON (${(error as Error).message})`);
	}
	const modelType = String(config.model_type);
	const table = Object.hasOwn(MOE_TENSOR_TABLES, modelType) ? MOE_TENSOR_TABLES[modelType] : undefined;
	if (!table) return { problems: [], skipped: `model_type ${JSON.stringify(config.model_type)}: verify knows the tensors of ${Object.keys(MOE_TENSOR_TABLES).join(", ")}` };
	const dims = readMoeDims(config, table);
	if (typeof dims === "string") return problem(dims);
	const expected = expectedTensors(table, dims, tensors);
	// A tied checkpoint may still carry its head: fine when its shape is the embedding's.
	if (dims.tiedEmbeddings && tensors.has(TIED_HEAD)) expected.set(TIED_HEAD, [dims.vocab, dims.hidden]);
	return { problems: compare(expected, tensors, modelType, unreadableShards) };
}

function problem(message: string): ConfigCheck {
	return { problems: [{ file: CONFIG, message }] };
}

/** The sizes of a config, or what is wrong with it. */
export function readMoeDims(config: Record<string, unknown>, table: MoeTensorTable): MoeDims | string {
	const missing: string[] = [];
	const int = (key: string, fallback?: number): number => {
		const value = config[key] ?? fallback;
		if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
		missing.push(key);
		return 0;
	};
	const hidden = int("hidden_size");
	const heads = int("num_attention_heads");
	const step = int("decoder_sparse_step", 1);
	const mlpOnly = Array.isArray(config.mlp_only_layers) ? (config.mlp_only_layers as unknown[]) : [];
	const experts = int(table.keys.experts);
	const dims: MoeDims = {
		hidden,
		vocab: int("vocab_size"),
		layers: int("num_hidden_layers"),
		experts,
		heads,
		kvHeads: int("num_key_value_heads", heads),
		headDim: int("head_dim", heads > 0 ? hidden / heads : undefined),
		intermediate: int("intermediate_size"),
		expertIntermediate: int(table.keys.expertIntermediate),
		sharedIntermediate: sharedSize(table, config, int),
		tiedEmbeddings: config.tie_word_embeddings === true,
		attentionBias: config.attention_bias === true,
		sparseLayer: (l) => experts > 0 && (table.sparseLayer ? table.sparseLayer(config, l) : !mlpOnly.includes(l) && step > 0 && (l + 1) % step === 0),
	};
	if (missing.length > 0) return `has no valid ${missing.map((k) => JSON.stringify(k)).join(", ")} (non-negative integers expected)`;
	return dims;
}

function sharedSize(table: MoeTensorTable, config: Record<string, unknown>, int: (key: string) => number): number {
	const key = table.keys.sharedIntermediate;
	if (key === undefined) return 0;
	if (typeof key === "string") return int(key);
	const size = key(config);
	return typeof size === "number" && Number.isSafeInteger(size) && size >= 0 ? size : 0;
}

/** Every tensor name and shape the table implies; each sparse layer's expert layout follows what is there. */
export function expectedTensors(table: MoeTensorTable, d: MoeDims, present: ReadonlyMap<string, unknown>): Map<string, number[]> {
	const expected = new Map<string, number[]>();
	const add = (rules: TensorRule[], layer?: number) => {
		for (const rule of rules) {
			if (rule.when && !rule.when(d)) continue;
			const name = layer === undefined ? rule.name : rule.name.replace("{l}", String(layer));
			if (!name.includes("{e}")) expected.set(name, rule.shape(d));
			else for (let e = 0; e < d.experts; e++) expected.set(name.replace("{e}", String(e)), rule.shape(d));
		}
	};
	add(table.model);
	for (let l = 0; l < d.layers; l++) {
		add(table.layer, l);
		if (!d.sparseLayer(l)) {
			add(table.denseMlp, l);
			continue;
		}
		add(table.sparse, l);
		add(present.has(table.fusedMarker.replace("{l}", String(l))) ? table.fused : table.perExpert, l);
	}
	return expected;
}

function compare(expected: Map<string, number[]>, tensors: ReadonlyMap<string, ShardTensor>, modelType: string, unreadable: readonly string[]): CheckpointProblem[] {
	const problems: CheckpointProblem[] = [];
	const missing: string[] = [];
	for (const [name, shape] of expected) {
		const found = tensors.get(name);
		if (!found && unreadable.length > 0) missing.push(name);
		else if (!found) problems.push({ file: CONFIG, message: `implies tensor ${JSON.stringify(name)} ${dims(shape)}, which no shard holds` });
		else if (dims(found.info.shape) !== dims(shape)) {
			problems.push({ file: CONFIG, message: `implies tensor ${JSON.stringify(name)} ${dims(shape)}, but ${found.file} has it as ${dims(found.info.shape)}` });
		}
	}
	for (const [name, { file }] of tensors) {
		if (!expected.has(name) && !IGNORED.test(name)) {
			problems.push({ file, message: `holds tensor ${JSON.stringify(name)}, which a ${modelType} model with this ${CONFIG} does not have` });
		}
	}
	if (missing.length > 0) {
		const shown = missing.slice(0, 3).map((n) => JSON.stringify(n)).join(", ");
		problems.push({
			file: CONFIG,
			message: `implies ${missing.length} tensor(s) that no readable shard holds (${shown}${missing.length > 3 ? ", ..." : ""}): a consequence of ${unreadable.join(", ")}, which cannot be read (above)`,
		});
	}
	return problems;
}

function dims(shape: readonly number[]): string {
	return `[${shape.join(", ")}]`;
}
