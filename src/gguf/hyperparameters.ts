/**
 * The hyperparameter keys every architecture gets from llama.cpp's converter (TextModel's
 * set_gguf_parameters), from config.json, followed by the architecture's own.
 */
import type { GgufArchitecture } from "./architecture.js";
import { findNumber } from "./architecture.js";
import { type GgufEntry, f32, str, u32 } from "./metadata.js";

type Json = Record<string, unknown>;

/** rope_parameters (transformers 5) or rope_scaling + rope_theta (classic), as one object. */
export function ropeParameters(config: Json): Json {
	const native = config.rope_parameters as Json | undefined;
	if (native && typeof native === "object") return native;
	const scaling = (config.rope_scaling as Json | null | undefined) ?? {};
	const type = scaling.rope_type ?? scaling.type;
	return { ...scaling, ...(type !== undefined ? { rope_type: type } : {}), ...(config.rope_theta !== undefined ? { rope_theta: config.rope_theta } : {}) };
}

export function hyperparameterEntries(gguf: GgufArchitecture, config: Json): GgufEntry[] {
	const arch = gguf.arch;
	const entries: GgufEntry[] = [];
	const add = (key: string, value: number | undefined, make: (k: string, v: number) => GgufEntry = u32) => {
		if (value !== undefined) entries.push(make(`${arch}.${key}`, value));
	};
	add("block_count", findNumber(config, ["num_hidden_layers", "n_layer", "num_layers"]));
	add("context_length", findNumber(config, ["max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"]));
	add("embedding_length", findNumber(config, ["hidden_size", "n_embd", "dim"]));
	add("feed_forward_length", findNumber(config, ["intermediate_size", "n_inner", "hidden_dim"]));
	add("attention.head_count", findNumber(config, ["num_attention_heads", "n_head", "n_heads"]));
	add("attention.head_count_kv", findNumber(config, ["num_key_value_heads", "n_kv_heads"]));
	const rope = ropeParameters(config);
	const factor = typeof rope.factor === "number" ? rope.factor : undefined;
	if (rope.rope_type === "linear" && factor !== undefined) {
		entries.push(str(`${arch}.rope.scaling.type`, "linear"));
		add("rope.scaling.factor", factor, f32);
	} else if (rope.rope_type === "yarn" && factor !== undefined) {
		entries.push(str(`${arch}.rope.scaling.type`, "yarn"));
		add("rope.scaling.factor", factor, f32);
		add("rope.scaling.original_context_length", rope.original_max_position_embeddings as number);
		add("rope.scaling.yarn_ext_factor", rope.extrapolation_factor as number | undefined, f32);
		add("rope.scaling.yarn_attn_factor", (rope.attention_factor ?? rope.attn_factor) as number | undefined, f32);
		add("rope.scaling.yarn_beta_fast", rope.beta_fast as number | undefined, f32);
		add("rope.scaling.yarn_beta_slow", rope.beta_slow as number | undefined, f32);
	}
	add("rope.freq_base", typeof rope.rope_theta === "number" ? rope.rope_theta : undefined, f32);
	add("attention.layer_norm_rms_epsilon", findNumber(config, ["rms_norm_eps", "norm_eps"]), f32);
	add("expert_count", findNumber(config, ["num_local_experts", "num_experts"]));
	add("expert_used_count", findNumber(config, ["num_experts_per_tok", "num_experts_per_token", "top_k_experts"]));
	const scoring = config.scoring_func;
	if (scoring === "softmax" || scoring === "sigmoid") add("expert_gating_func", scoring === "softmax" ? 1 : 2);
	if (typeof config.head_dim === "number") {
		add("attention.key_length", config.head_dim);
		add("attention.value_length", config.head_dim);
	}
	entries.push(...gguf.hyperparameters(config));
	return entries;
}

/** head_dim, or hidden_size / heads (the rotary dimension of these architectures). */
export function headDim(config: Json): number {
	return typeof config.head_dim === "number" ? config.head_dim : (config.hidden_size as number) / (config.num_attention_heads as number);
}
