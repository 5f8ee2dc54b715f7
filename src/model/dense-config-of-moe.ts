/**
 * The config.json of a dense model holding an MoE's attention path and one MLP (extract): the MoE's
 * config read as the dense family whose attention its architecture keeps (the description's
 * `attention`), written back in that family's own keys, so a dense model merged into the MoE and
 * extracted again gets the values that decide its computation back.
 */
import type { AttentionFamily, OutputArchitecture } from "../architectures/output-architecture.js";
import { llamaLikeAttentionConfig } from "../architectures/llama-like-config.js";
import { qwenWindowConfig } from "../architectures/moe-config-parts.js";
import { type DenseConfig, normaliseDenseConfig } from "../inputs/dense-config.js";

/** transformers' class of each dense family. */
const CAUSAL_LM: Record<AttentionFamily, string> = {
	llama: "LlamaForCausalLM",
	mistral: "MistralForCausalLM",
	qwen2: "Qwen2ForCausalLM",
	qwen3: "Qwen3ForCausalLM",
};

/** What each family writes besides the Llama-like keys: its window and bias flags in its own spelling. */
const FAMILY_KEYS: Record<AttentionFamily, (dense: DenseConfig) => Record<string, unknown>> = {
	llama: (dense) => ({ attention_bias: dense.biases.some((b) => b !== "mlp"), mlp_bias: false }),
	mistral: (dense) => ({ sliding_window: dense.slidingWindow }),
	qwen2: (dense) => qwenWindowConfig(dense),
	qwen3: (dense) => ({ ...qwenWindowConfig(dense), attention_bias: dense.biases.length > 0 }),
};

export interface DenseConfigOfMoe {
	/** The dense family written. */
	family: AttentionFamily;
	config: Record<string, unknown>;
}

/**
 * The dense config of `raw` (an MoE config.json of `arch`) with an MLP of `intermediate` rows. Mistral
 * attention without a window is written as Llama (the same computation; Mixtral keeps no trace of
 * which of the two its inputs were, and Llama is what most tools know).
 */
export function denseConfigOfMoe(arch: OutputArchitecture, raw: Record<string, unknown>, file: string, intermediate: number): DenseConfigOfMoe {
	const read = (family: AttentionFamily) => normaliseDenseConfig({ ...raw, model_type: family, intermediate_size: intermediate }, file);
	let family = arch.attention;
	let dense = read(family);
	if (family === "mistral" && dense.slidingWindow === null) {
		family = "llama";
		dense = read(family);
	}
	return {
		family,
		config: {
			architectures: [CAUSAL_LM[family]],
			model_type: family,
			...llamaLikeAttentionConfig(dense),
			...FAMILY_KEYS[family](dense),
			torch_dtype: raw.torch_dtype ?? raw.dtype ?? "bfloat16",
		},
	};
}
