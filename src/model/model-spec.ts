/**
 * The shape of the decoder to run, checked once from config.json: which architectures and options the
 * forward pass reproduces, tensor names, biases, windows and rope. Anything else is a ModelError naming
 * config.json, raised before a single weight is read.
 */
import { ModelError } from "../errors.js";
import type { DenseConfig } from "../inputs/dense-config.js";
import { INPUT_FAMILIES, type InputNames, LLAMA_LIKE_NAMES, SILU_ACTIVATIONS } from "../inputs/input-families.js";
import { buildRope, type Rope } from "./rope.js";

/** The input families (src/inputs/input-families.ts) are exactly what the forward pass reproduces. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = INPUT_FAMILIES.map((f) => f.modelType);

export interface ModelSpec {
	config: DenseConfig;
	hidden: number;
	layers: number;
	heads: number;
	kvHeads: number;
	headDim: number;
	intermediate: number;
	vocab: number;
	eps: number;
	/** Per layer: attend to this many most recent tokens (itself included), or null for all of them. */
	windows: (number | null)[];
	qkNorm: boolean;
	/** Which projections carry a bias tensor. */
	qkvBias: boolean;
	oBias: boolean;
	mlpBias: boolean;
	tiedEmbeddings: boolean;
	rope: Rope;
}

export function describeModel(config: DenseConfig): ModelSpec {
	const fail = (what: string): never => {
		throw new ModelError(`${config.file}: ${what}`, { file: config.file });
	};
	const type = config.modelType;
	if (!SUPPORTED_MODEL_TYPES.includes(type)) {
		fail(`model_type "${type}" is not supported for computing hidden states (supported: ${SUPPORTED_MODEL_TYPES.join(", ")})`);
	}
	if (!SILU_ACTIVATIONS.includes(config.hiddenAct)) fail(`hidden_act "${config.hiddenAct}" is not supported (only silu)`);
	for (const [key, v] of [["hidden_size", config.hiddenSize], ["num_hidden_layers", config.numLayers], ["num_attention_heads", config.numHeads],
		["head_dim", config.headDim], ["intermediate_size", config.intermediateSize], ["vocab_size", config.vocabSize]] as const) {
		if (!(v > 0)) fail(`"${key}" must be positive, got ${v}`);
	}
	if (!(config.rmsNormEps >= 0)) fail(`"rms_norm_eps" must not be negative, got ${config.rmsNormEps}`);
	const windows = config.layerSlidingWindows.slice(0, config.numLayers);
	for (const w of windows) if (w !== null && !(w >= 1)) fail(`"sliding_window" must be at least 1, got ${w}`);
	return {
		config,
		hidden: config.hiddenSize,
		layers: config.numLayers,
		heads: config.numHeads,
		kvHeads: config.numKvHeads,
		headDim: config.headDim,
		intermediate: config.intermediateSize,
		vocab: config.vocabSize,
		eps: config.rmsNormEps,
		windows,
		qkNorm: config.qkNorm,
		// Per family, as the transformers modeling files build the Linear layers (src/inputs/input-families.ts).
		qkvBias: config.biases.includes("q_proj"),
		oBias: config.biases.includes("o_proj"),
		mlpBias: config.biases.includes("mlp"),
		tiedEmbeddings: config.tieWordEmbeddings,
		rope: buildRope(config),
	};
}

/** Safetensors names of the Hugging Face checkpoints of all four architectures (one naming, from the input table). */
export const tensorNames: InputNames = LLAMA_LIKE_NAMES;
