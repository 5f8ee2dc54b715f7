/**
 * What llama.cpp expects of one architecture, as its converter (convert_hf_to_gguf.py) writes it: the
 * GGUF architecture name, how each Hugging Face tensor is named and stacked, whether Q/K rows are
 * permuted, the hyperparameter keys, and extra tensors. Each output architecture (src/architectures/)
 * and dense input family (src/inputs/input-families.ts) carries its description as its `gguf` part.
 */
import type { GgufEntry } from "./metadata.js";

type Json = Record<string, unknown>;

/** How one Hugging Face tensor becomes GGUF tensor data. */
export interface GgufNameRule {
	/** Matches the Hugging Face name; groups `layer`, `expert`, `suffix` (weight or bias). */
	hf: RegExp;
	/** The GGUF name, with {L} = layer and {S} = suffix. */
	gguf: string;
	/**
	 * `expert`: one expert's projection, stacked by expert index into a 3-D tensor [E, rows, cols];
	 * `fused-gate-up`: transformers 5's stacked [E, 2I, H] gate_up_proj, whose first I rows of each
	 * expert go to `gguf` and the other I to `upGguf`.
	 */
	kind?: "expert" | "fused-gate-up";
	upGguf?: string;
}

/** A tensor the converter computes rather than copies (llama3 rope factors). */
export interface GgufExtraTensor {
	name: string;
	values: Float32Array;
}

export interface GgufArchitecture {
	/** general.architecture and the key prefix. */
	arch: string;
	/** llama.cpp's llama and deepseek ropes pair adjacent values; transformers pairs halves: q/k rows are permuted. */
	permuteQK: boolean;
	names: readonly GgufNameRule[];
	/** The architecture's own keys (after the common ones, see hyperparameters.ts). */
	hyperparameters(config: Json): GgufEntry[];
	extraTensors?(config: Json): GgufExtraTensor[];
	/** llama.cpp's loader of this architecture requires output.weight: tied embeddings are written there again. */
	untiedOutput?: boolean;
	/** What llama.cpp cannot run as transformers does, or null. */
	unsupported?(config: Json): string | null;
	/** What llama.cpp computes differently from transformers on this config (a warning), or null. */
	differences?(config: Json): string | null;
}

/**
 * A rule from a name template: {L} a layer number, {E} an expert number, {S} weight|bias, {W} weight
 * only. E.g. rule("model.layers.{L}.self_attn.q_proj.{S}", "blk.{L}.attn_q.{S}").
 */
export function rule(hf: string, gguf: string, extra: Pick<GgufNameRule, "kind" | "upGguf"> = {}): GgufNameRule {
	const pattern = hf
		.replace(/[.]/g, "\\.")
		.replace("{L}", "(?<layer>\\d+)")
		.replace("{E}", "(?<expert>\\d+)")
		.replace("{S}", "(?<suffix>weight|bias)")
		.replace("{W}", "(?<suffix>weight)");
	return { hf: new RegExp(`^${pattern}$`), gguf: gguf.replace("{W}", "{S}"), ...extra };
}

/** Attention, norms, embeddings and head: named alike by Llama, Mistral, Qwen2/3 and their MoEs. */
export const LLAMA_LIKE_RULES: readonly GgufNameRule[] = [
	rule("model.embed_tokens.{W}", "token_embd.{W}"),
	rule("model.norm.{W}", "output_norm.{W}"),
	rule("lm_head.{W}", "output.{W}"),
	rule("model.layers.{L}.input_layernorm.{W}", "blk.{L}.attn_norm.{W}"),
	rule("model.layers.{L}.post_attention_layernorm.{W}", "blk.{L}.ffn_norm.{W}"),
	rule("model.layers.{L}.self_attn.q_proj.{S}", "blk.{L}.attn_q.{S}"),
	rule("model.layers.{L}.self_attn.k_proj.{S}", "blk.{L}.attn_k.{S}"),
	rule("model.layers.{L}.self_attn.v_proj.{S}", "blk.{L}.attn_v.{S}"),
	rule("model.layers.{L}.self_attn.o_proj.{S}", "blk.{L}.attn_output.{S}"),
	rule("model.layers.{L}.self_attn.q_norm.{W}", "blk.{L}.attn_q_norm.{W}"),
	rule("model.layers.{L}.self_attn.k_norm.{W}", "blk.{L}.attn_k_norm.{W}"),
];

/** A dense SiLU-gated MLP (dense models, and the dense layers of an MoE). */
export const DENSE_MLP_RULES: readonly GgufNameRule[] = [
	rule("model.layers.{L}.mlp.gate_proj.{W}", "blk.{L}.ffn_gate.{W}"),
	rule("model.layers.{L}.mlp.up_proj.{W}", "blk.{L}.ffn_up.{W}"),
	rule("model.layers.{L}.mlp.down_proj.{W}", "blk.{L}.ffn_down.{W}"),
];

/** Per-expert `mlp.experts.E.*_proj` and the router `mlp.gate` (Qwen MoE, Qwen3 MoE, DeepSeek MoE). */
export const MLP_EXPERT_RULES: readonly GgufNameRule[] = [
	rule("model.layers.{L}.mlp.experts.{E}.gate_proj.{W}", "blk.{L}.ffn_gate_exps.{W}", { kind: "expert" }),
	rule("model.layers.{L}.mlp.experts.{E}.up_proj.{W}", "blk.{L}.ffn_up_exps.{W}", { kind: "expert" }),
	rule("model.layers.{L}.mlp.experts.{E}.down_proj.{W}", "blk.{L}.ffn_down_exps.{W}", { kind: "expert" }),
	rule("model.layers.{L}.mlp.gate.{W}", "blk.{L}.ffn_gate_inp.{W}"),
];

/** transformers 5's fused experts (`--layout fused`): already stacked. */
export const FUSED_EXPERT_RULES: readonly GgufNameRule[] = [
	rule("model.layers.{L}.mlp.experts.gate_up_proj", "blk.{L}.ffn_gate_exps.weight", { kind: "fused-gate-up", upGguf: "blk.{L}.ffn_up_exps.weight" }),
	rule("model.layers.{L}.mlp.experts.down_proj", "blk.{L}.ffn_down_exps.weight"),
];

/** Config values: the first of `keys` present, as the converter's find_hparam. */
export function findNumber(config: Json, keys: readonly string[]): number | undefined {
	for (const key of keys) {
		const value = config[key];
		if (typeof value === "number") return value;
	}
	return undefined;
}
