import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MLP_PROJECTIONS } from "../architectures/expert-tensors.js";
import type { MlpProjection, OutputArchitecture } from "../architectures/output-architecture.js";
import { architectureByModelType, knownModelTypes } from "../architectures/registry.js";
import { type BiasSite, LLAMA_LIKE_NAMES, inputFamilyOf, layerName } from "../inputs/input-families.js";
import type { ShardTensor } from "./open-checkpoint-shards.js";
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
	const arch = architectureByModelType(config.model_type);
	if (!arch) return { problems: [], skipped: `model_type ${JSON.stringify(config.model_type)}: verify knows the tensors of ${knownModelTypes()}` };
	const dims = readMoeDims(config, arch);
	if (typeof dims === "string") return problem(dims);
	const expected = expectedTensors(arch, dims, tensors);
	// A tied checkpoint may still carry its head: fine when its shape is the embedding's.
	if (dims.tiedEmbeddings && tensors.has(TIED_HEAD)) expected.set(TIED_HEAD, [dims.vocab, dims.hidden]);
	return { problems: compare(expected, tensors, modelType, unreadableShards) };
}

function problem(message: string): ConfigCheck {
	return { problems: [{ file: CONFIG, message }] };
}

/** The sizes a config gives, read by readMoeDims. */
export interface MoeDims {
	hidden: number;
	vocab: number;
	layers: number;
	experts: number;
	heads: number;
	kvHeads: number;
	headDim: number;
	/** Intermediate size of dense MLP layers. */
	intermediate: number;
	/** Intermediate size of each routed expert. */
	expertIntermediate: number;
	/** Intermediate size of the shared experts (0 when there are none). */
	sharedIntermediate: number;
	tiedEmbeddings: boolean;
	/** The attention biases, as the architecture's attention family reads them from the config. */
	biases: readonly BiasSite[];
	/** Per-head q/k RMSNorm weights (Qwen3 attention). */
	qkNorm: boolean;
	/** Whether layer l has a sparse MoE block (else a dense MLP). */
	sparseLayer: (layer: number) => boolean;
}

/** The sizes of a config, read with the architecture's keys, or what is wrong with it. */
export function readMoeDims(config: Record<string, unknown>, arch: OutputArchitecture): MoeDims | string {
	const missing: string[] = [];
	const int = (key: string, fallback?: number): number => {
		const value = config[key] ?? fallback;
		if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
		missing.push(JSON.stringify(key));
		return 0;
	};
	const hidden = int("hidden_size");
	const heads = int("num_attention_heads");
	const experts = int(arch.config.experts.find((key) => config[key] != null) ?? arch.config.experts[0]!);
	const shared = arch.config.sharedIntermediate?.(config) ?? 0;
	const family = inputFamilyOf(arch.attention);
	const dims: MoeDims = {
		hidden,
		vocab: int("vocab_size"),
		layers: int("num_hidden_layers"),
		experts,
		heads,
		kvHeads: int("num_key_value_heads", heads),
		headDim: int("head_dim", heads > 0 ? hidden / heads : undefined),
		intermediate: int("intermediate_size"),
		expertIntermediate: int(arch.config.expertIntermediate),
		sharedIntermediate: typeof shared === "number" && Number.isSafeInteger(shared) && shared >= 0 ? shared : (missing.push("shared experts' size"), 0),
		tiedEmbeddings: config.tie_word_embeddings === true,
		biases: family.biases(config).filter((site) => site !== "mlp"),
		qkNorm: family.qkNorm === true,
		sparseLayer: (l) => experts > 0 && arch.config.sparseLayer(config, l),
	};
	if (missing.length > 0) return `has no valid ${missing.join(", ")} (non-negative integers expected)`;
	return dims;
}

/** Every tensor name and shape the architecture implies; each sparse layer's expert layout follows what is there. */
export function expectedTensors(arch: OutputArchitecture, d: MoeDims, present: ReadonlyMap<string, unknown>): Map<string, number[]> {
	const expected = new Map<string, number[]>();
	const names = LLAMA_LIKE_NAMES;
	const q = d.heads * d.headDim;
	const kv = d.kvHeads * d.headDim;
	const mlp = (name: (p: MlpProjection) => string, size: number) => {
		for (const p of MLP_PROJECTIONS) expected.set(name(p), p === "down_proj" ? [d.hidden, size] : [size, d.hidden]);
	};
	expected.set(names.embed, [d.vocab, d.hidden]);
	expected.set(names.finalNorm, [d.hidden]);
	if (!d.tiedEmbeddings) expected.set(names.lmHead, [d.vocab, d.hidden]);
	const rows = { q_proj: q, k_proj: kv, v_proj: kv, o_proj: d.hidden };
	for (let l = 0; l < d.layers; l++) {
		const at = (rest: string) => layerName(l, rest);
		expected.set(at("input_layernorm.weight"), [d.hidden]);
		expected.set(at("post_attention_layernorm.weight"), [d.hidden]);
		for (const p of ["q_proj", "k_proj", "v_proj"] as const) expected.set(at(`self_attn.${p}.weight`), [rows[p], d.hidden]);
		expected.set(at("self_attn.o_proj.weight"), [d.hidden, q]);
		for (const site of d.biases) if (site !== "mlp") expected.set(at(`self_attn.${site}.bias`), [rows[site]]);
		if (d.qkNorm) for (const norm of ["q_norm", "k_norm"]) expected.set(at(`self_attn.${norm}.weight`), [d.headDim]);
		if (!d.sparseLayer(l)) {
			mlp((p) => arch.denseMlpName(l, p), d.intermediate);
			continue;
		}
		const shared = arch.sharedExpertNames;
		if (shared && d.sharedIntermediate > 0) {
			mlp((p) => shared.projection(l, p), d.sharedIntermediate);
			if (shared.gate) expected.set(shared.gate(l), [1, d.hidden]);
		}
		const fused = arch.fusedExpertNames?.(l);
		if (fused && present.has(fused.gateUp)) {
			expected.set(fused.gateUp, [d.experts, 2 * d.expertIntermediate, d.hidden]);
			expected.set(fused.down, [d.experts, d.hidden, d.expertIntermediate]);
			expected.set(arch.routerName(l, "fused"), [d.experts, d.hidden]);
			continue;
		}
		expected.set(arch.routerName(l, "per-expert"), [d.experts, d.hidden]);
		for (let e = 0; e < d.experts; e++) mlp((p) => arch.expertTensorName(l, e, p), d.expertIntermediate);
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
