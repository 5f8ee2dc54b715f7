import { join } from "node:path";
import { ModelError } from "../errors.js";
import { JSON_LIMITS, readTextCapped } from "../util/read-json-capped.js";
import { type BiasSite, inputFamilyOf } from "./input-families.js";

/** Rope scaling as transformers 4.x spells it (`rope_scaling`), the form we write. */
export type RopeScaling = Record<string, unknown> & { rope_type?: string; type?: string; factor?: number };

/**
 * The parts of a dense decoder's config.json the merge and the forward pass need, normalised from both
 * config dialects (transformers 4.x: torch_dtype / rope_theta / rope_scaling; 5.x: dtype / rope_parameters).
 */
export interface DenseConfig {
	file: string;
	modelType: string;
	architectures: string[];
	hiddenSize: number;
	numLayers: number;
	intermediateSize: number;
	vocabSize: number;
	numHeads: number;
	numKvHeads: number;
	headDim: number;
	rmsNormEps: number;
	ropeTheta: number;
	ropeScaling: RopeScaling | null;
	maxPositionEmbeddings: number;
	tieWordEmbeddings: boolean;
	/** Mistral's window, or Qwen2's when use_sliding_window is set; null = full attention. */
	slidingWindow: number | null;
	/**
	 * The window each decoder layer really uses in transformers (null = full attention): Mistral's on every
	 * layer; Qwen2/3's only on "sliding_attention" layers (layer_types, else layers >= max_window_layers);
	 * Llama has none.
	 */
	layerSlidingWindows: (number | null)[];
	/** Qwen3 RMS-normalises every query and key head (q_norm / k_norm) before rope. */
	qkNorm: boolean;
	/** Fraction of head_dim that rope rotates (`partial_rotary_factor`, top level or in the rope dict); 1 when absent. */
	partialRotaryFactor: number;
	/** The biases its layers have (input-families.ts). */
	biases: readonly BiasSite[];
	hiddenAct: string;
	/** "float32" | "float16" | "bfloat16" when given. */
	dtype?: string;
	/** The config as read, for keys we carry over unchanged (token ids, etc.). */
	raw: Record<string, unknown>;
}

export async function readDenseConfig(dir: string): Promise<DenseConfig> {
	const { raw, file } = await readConfigObject(dir);
	return normaliseDenseConfig(raw, file);
}

/** A model folder's config.json as a JSON object (dense or MoE), with its path; a ModelError naming it otherwise. */
export async function readConfigObject(dir: string): Promise<{ raw: Record<string, unknown>; file: string }> {
	const file = join(dir, "config.json");
	let text: string;
	try {
		text = await readTextCapped(file, JSON_LIMITS.config, file);
	} catch (cause) {
		if (cause instanceof ModelError) throw cause;
		throw new ModelError(`${file}: cannot read the model's config.json (${(cause as NodeJS.ErrnoException).code ?? cause})`, {
			file,
			cause,
		});
	}
	let raw: unknown;
	try {
		raw = JSON.parse(text);
	} catch (cause) {
		throw new ModelError(`${file}: config.json is not valid JSON (${(cause as Error).message})`, { file, cause });
	}
	if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
		throw new ModelError(`${file}: config.json must hold a JSON object`, { file });
	}
	return { raw: raw as Record<string, unknown>, file };
}

export function normaliseDenseConfig(raw: Record<string, unknown>, file: string): DenseConfig {
	const int = (key: string, fallback?: number): number => {
		const v = raw[key] ?? fallback;
		if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
			throw new ModelError(`${file}: "${key}" must be a non-negative integer, got ${JSON.stringify(raw[key])}`, { file });
		}
		return v;
	};
	const num = (key: string, fallback: number): number => {
		const v = raw[key] ?? fallback;
		if (typeof v !== "number" || !Number.isFinite(v)) {
			throw new ModelError(`${file}: "${key}" must be a number, got ${JSON.stringify(raw[key])}`, { file });
		}
		return v;
	};
	const modelType = raw.model_type;
	if (typeof modelType !== "string") {
		throw new ModelError(`${file}: config.json has no "model_type"; is this a transformers model folder?`, { file });
	}
	const hiddenSize = int("hidden_size");
	const numHeads = int("num_attention_heads");
	const numKvHeads = int("num_key_value_heads", numHeads);
	// Qwen3Config's head_dim defaults to 128, not hidden_size / num_attention_heads.
	const headDim = raw.head_dim == null ? (modelType === "qwen3" ? 128 : hiddenSize / numHeads) : int("head_dim");
	if (!Number.isInteger(headDim)) {
		throw new ModelError(`${file}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`, { file });
	}
	if (numKvHeads === 0 || numHeads % numKvHeads !== 0) {
		throw new ModelError(`${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`, { file });
	}
	const { ropeTheta, ropeScaling } = readRope(raw, file);
	const dtype = (raw.torch_dtype ?? raw.dtype) as string | undefined;
	let slidingWindow: number | null = null;
	if (modelType === "qwen2" || modelType === "qwen3") {
		// Qwen2/3 carry a sliding_window value that only applies when use_sliding_window is true.
		if (raw.use_sliding_window === true && raw.sliding_window != null) slidingWindow = int("sliding_window");
	} else if (raw.sliding_window != null) {
		slidingWindow = int("sliding_window");
	}
	const numLayers = int("num_hidden_layers");
	return {
		file,
		modelType,
		architectures: Array.isArray(raw.architectures) ? (raw.architectures as string[]) : [],
		hiddenSize,
		numLayers,
		intermediateSize: int("intermediate_size"),
		vocabSize: int("vocab_size"),
		numHeads,
		numKvHeads,
		headDim,
		rmsNormEps: num("rms_norm_eps", 1e-6),
		ropeTheta,
		ropeScaling,
		maxPositionEmbeddings: int("max_position_embeddings", 2048),
		tieWordEmbeddings: raw.tie_word_embeddings === true,
		slidingWindow,
		layerSlidingWindows: layerWindows(raw, modelType, numLayers, slidingWindow),
		qkNorm: inputFamilyOf(modelType).qkNorm === true,
		partialRotaryFactor: partialRotary(raw, ropeScaling),
		biases: inputFamilyOf(modelType).biases(raw),
		hiddenAct: typeof raw.hidden_act === "string" ? raw.hidden_act : "silu",
		dtype: typeof dtype === "string" ? dtype : undefined,
		raw,
	};
}

function layerWindows(raw: Record<string, unknown>, modelType: string, numLayers: number, window: number | null): (number | null)[] {
	if (modelType === "mistral") return new Array<number | null>(numLayers).fill(window);
	if (modelType !== "qwen2" && modelType !== "qwen3") return new Array<number | null>(numLayers).fill(null);
	const types = raw.layer_types;
	// An explicit layer_types wins (a malformed one is ignored like an absent one).
	if (Array.isArray(types) && types.length === numLayers) return types.map((t) => (t === "sliding_attention" ? window : null));
	const first = typeof raw.max_window_layers === "number" ? raw.max_window_layers : 28;
	return Array.from({ length: numLayers }, (_, i) => (window !== null && i >= first ? window : null));
}

function partialRotary(raw: Record<string, unknown>, scaling: RopeScaling | null): number {
	const params = raw.rope_parameters as Record<string, unknown> | null | undefined;
	// transformers 5 prefers the value inside the rope dict over the top-level one.
	const v = scaling?.partial_rotary_factor ?? params?.partial_rotary_factor ?? raw.partial_rotary_factor;
	return typeof v === "number" ? v : 1;
}

function readRope(raw: Record<string, unknown>, file: string): { ropeTheta: number; ropeScaling: RopeScaling | null } {
	const params = raw.rope_parameters as Record<string, unknown> | undefined | null;
	// Every supported config class (Qwen2/3 included) defaults to 10000 in transformers 4.57 and 5.x.
	let theta = raw.rope_theta ?? params?.rope_theta ?? 10_000;
	if (typeof theta !== "number" || !(theta > 0)) {
		throw new ModelError(`${file}: rope_theta must be a positive number, got ${JSON.stringify(theta)}`, { file });
	}
	let scaling: RopeScaling | null = null;
	const classic = raw.rope_scaling as RopeScaling | null | undefined;
	if (classic && typeof classic === "object") {
		scaling = { ...classic };
	} else if (params && typeof params === "object") {
		// transformers 5 folds theta and scaling into rope_parameters; "default" means no scaling.
		const { rope_theta: _theta, ...rest } = params;
		const type = (rest.rope_type ?? rest.type) as string | undefined;
		if (type && type !== "default") scaling = rest as RopeScaling;
	}
	if (scaling) {
		const type = scaling.rope_type ?? scaling.type;
		if (typeof type !== "string") {
			throw new ModelError(`${file}: rope scaling ${JSON.stringify(scaling)} has no rope_type`, { file });
		}
		if (type === "default") scaling = null;
	}
	return { ropeTheta: theta, ropeScaling: scaling };
}
