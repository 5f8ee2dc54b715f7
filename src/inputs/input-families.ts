/**
 * The dense input families, as data (like mergekit's architecture JSON files): how each names its
 * tensors and which biases it has. Every reader of input tensors (tensor plan, forward pass, embedding
 * sums) takes names from here.
 */
import type { GgufArchitecture } from "../gguf/architecture.js";
import { LLAMA_GGUF } from "../gguf/architectures/llama.js";
import { QWEN2_GGUF, QWEN3_GGUF } from "../gguf/architectures/qwen.js";

/** The three projections of a dense SiLU-gated MLP, named as Llama/Mistral/Qwen name them. */
export type MlpProjection = "gate_proj" | "up_proj" | "down_proj";

/** Where a dense decoder can have a bias: an attention projection, or the MLP. */
export type BiasSite = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "mlp";

export interface InputNames {
	embed: string;
	finalNorm: string;
	lmHead: string;
	/** A tensor of decoder layer `layer`: `rest` is the part after the layer prefix, e.g. `input_layernorm.weight`. */
	layer(layer: number, rest: string): string;
	/** The decoder layer a tensor belongs to, or undefined for the embeddings, final norm and head. */
	layerOf(name: string): number | undefined;
	/** The embeddings, which come first in a file (tensors of no layer and not embeddings come last). */
	isEmbedding(name: string): boolean;
	mlp(layer: number, projection: MlpProjection): string;
	/** The dense MLP's tensors (weights and biases), which experts replace. */
	isMlpTensor(name: string): boolean;
	/** Where a tensor is a bias of, or undefined when it is not a bias. */
	biasSite(name: string): BiasSite | undefined;
}

export interface InputFamily {
	/** The config's model_type. */
	modelType: string;
	names: InputNames;
	/** RMS-normalises every query and key head (q_norm / k_norm) before rope (Qwen3). */
	qkNorm?: boolean;
	/** Which biases a model of this family has, from its config.json (as the transformers modeling file builds its layers). */
	biases(raw: Record<string, unknown>): readonly BiasSite[];
	/** What llama.cpp expects of a dense model of this family (src/gguf/architectures/). */
	gguf?: GgufArchitecture;
}

const LAYER = /^model\.layers\.(\d+)\./;

/** A tensor of decoder layer `layer` in every Llama-like checkpoint, dense or MoE: `rest` follows the layer prefix. */
export const layerName = (layer: number, rest: string): string => `model.layers.${layer}.${rest}`;

/** hidden_act values that mean SiLU (transformers' ACT2FN maps both), the only MLP activation we compute and write. */
export const SILU_ACTIVATIONS: readonly string[] = ["silu", "swish"];
const BIAS = /\.(q_proj|k_proj|v_proj|o_proj)\.bias$/;

/** Llama, Mistral, Qwen2 and Qwen3 checkpoints share these names. */
export const LLAMA_LIKE_NAMES: InputNames = {
	embed: "model.embed_tokens.weight",
	finalNorm: "model.norm.weight",
	lmHead: "lm_head.weight",
	layer: layerName,
	layerOf: (name) => {
		const match = LAYER.exec(name);
		return match ? Number(match[1]) : undefined;
	},
	isEmbedding: (name) => name.startsWith("model.embed_tokens."),
	mlp: (layer, projection) => layerName(layer, `mlp.${projection}.weight`),
	isMlpTensor: (name) => /^model\.layers\.\d+\.mlp\./.test(name),
	biasSite: (name) => {
		if (!name.endsWith(".bias")) return undefined;
		if (/^model\.layers\.\d+\.mlp\./.test(name)) return "mlp";
		return (BIAS.exec(name)?.[1] as BiasSite | undefined) ?? undefined;
	},
};

const ATTENTION: readonly BiasSite[] = ["q_proj", "k_proj", "v_proj", "o_proj"];
const flag = (raw: Record<string, unknown>, key: string) => raw[key] === true;

export const INPUT_FAMILIES: readonly InputFamily[] = [
	{
		modelType: "llama",
		names: LLAMA_LIKE_NAMES,
		biases: (raw) => [...(flag(raw, "attention_bias") ? ATTENTION : []), ...(flag(raw, "mlp_bias") ? (["mlp"] as const) : [])],
		gguf: LLAMA_GGUF,
	},
	// MistralConfig has no bias options: its layers never have biases.
	{ modelType: "mistral", names: LLAMA_LIKE_NAMES, biases: () => [], gguf: LLAMA_GGUF },
	// Qwen2 always has q/k/v biases, though its config says nothing about them.
	{ modelType: "qwen2", names: LLAMA_LIKE_NAMES, biases: () => ["q_proj", "k_proj", "v_proj"], gguf: QWEN2_GGUF },
	{ modelType: "qwen3", names: LLAMA_LIKE_NAMES, qkNorm: true, biases: (raw) => (flag(raw, "attention_bias") ? ATTENTION : []), gguf: QWEN3_GGUF },
];

/** The family of a model_type; an unknown one is read like Llama (the output architecture refuses it later, by name). */
export function inputFamilyOf(modelType: string): InputFamily {
	return INPUT_FAMILIES.find((f) => f.modelType === modelType) ?? { ...INPUT_FAMILIES[0], modelType };
}
