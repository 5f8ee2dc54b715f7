import type { DenseConfig } from "../inputs/dense-config.js";

/** Token ids and generation defaults carried over from the base config when present. */
const CARRIED_KEYS = ["bos_token_id", "eos_token_id", "pad_token_id", "initializer_range", "use_cache", "attention_dropout"] as const;

/**
 * Everything the attention, embeddings and norms of a Llama-like base need, in the classic
 * (transformers 4.x) spelling that both 4.x and 5.x read.
 */
export function llamaLikeAttentionConfig(base: DenseConfig): Record<string, unknown> {
	const carried: Record<string, unknown> = {};
	for (const key of CARRIED_KEYS) if (key in base.raw) carried[key] = base.raw[key];
	return {
		...carried,
		hidden_size: base.hiddenSize,
		intermediate_size: base.intermediateSize,
		num_hidden_layers: base.numLayers,
		num_attention_heads: base.numHeads,
		num_key_value_heads: base.numKvHeads,
		head_dim: base.headDim,
		hidden_act: base.hiddenAct,
		max_position_embeddings: base.maxPositionEmbeddings,
		rms_norm_eps: base.rmsNormEps,
		rope_theta: base.ropeTheta,
		rope_scaling: base.ropeScaling,
		tie_word_embeddings: base.tieWordEmbeddings,
		vocab_size: base.vocabSize,
	};
}
