/**
 * The tensors each MoE architecture's config.json implies, as data: names with `{l}` (layer) and `{e}`
 * (expert) placeholders and shapes computed from the config's sizes. A table per architecture, so a
 * new one is a new entry, not new checking code.
 */

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
	/** Intermediate size of the shared expert (0 when there is none). */
	sharedIntermediate: number;
	tiedEmbeddings: boolean;
	attentionBias: boolean;
	/** Whether layer l has a sparse MoE block (else a dense MLP). */
	sparseLayer: (layer: number) => boolean;
}

export interface TensorRule {
	name: string;
	shape: (d: MoeDims) => number[];
	when?: (d: MoeDims) => boolean;
}

export interface MoeTensorTable {
	/** config.json keys; the shared experts' size may be computed from several. */
	keys: { experts: string; expertIntermediate: string; sharedIntermediate?: string | ((config: Record<string, unknown>) => unknown) };
	/** Whether layer l is sparse, when the config says so otherwise than Qwen's mlp_only_layers / decoder_sparse_step. */
	sparseLayer?: (config: Record<string, unknown>, layer: number) => boolean;
	/** Once per model. */
	model: TensorRule[];
	/** Once per layer. */
	layer: TensorRule[];
	/** Once per dense MLP layer. */
	denseMlp: TensorRule[];
	/** Once per sparse layer, whatever the expert layout. */
	sparse: TensorRule[];
	/** Sparse layers, one of two expert layouts: `{e}` repeated per expert, or transformers 5's fused stacks. */
	perExpert: TensorRule[];
	fused: TensorRule[];
	/** A tensor name present only in the fused layout, to tell the layouts apart per layer. */
	fusedMarker: string;
}

const q = (d: MoeDims) => d.heads * d.headDim;
const kv = (d: MoeDims) => d.kvHeads * d.headDim;

const MODEL: TensorRule[] = [
	{ name: "model.embed_tokens.weight", shape: (d) => [d.vocab, d.hidden] },
	{ name: "model.norm.weight", shape: (d) => [d.hidden] },
	{ name: "lm_head.weight", shape: (d) => [d.vocab, d.hidden], when: (d) => !d.tiedEmbeddings },
];

const ATTENTION: TensorRule[] = [
	{ name: "model.layers.{l}.input_layernorm.weight", shape: (d) => [d.hidden] },
	{ name: "model.layers.{l}.post_attention_layernorm.weight", shape: (d) => [d.hidden] },
	{ name: "model.layers.{l}.self_attn.q_proj.weight", shape: (d) => [q(d), d.hidden] },
	{ name: "model.layers.{l}.self_attn.k_proj.weight", shape: (d) => [kv(d), d.hidden] },
	{ name: "model.layers.{l}.self_attn.v_proj.weight", shape: (d) => [kv(d), d.hidden] },
	{ name: "model.layers.{l}.self_attn.o_proj.weight", shape: (d) => [d.hidden, q(d)] },
];

const QKV_BIAS: TensorRule[] = [
	{ name: "model.layers.{l}.self_attn.q_proj.bias", shape: (d) => [q(d)] },
	{ name: "model.layers.{l}.self_attn.k_proj.bias", shape: (d) => [kv(d)] },
	{ name: "model.layers.{l}.self_attn.v_proj.bias", shape: (d) => [kv(d)] },
];

/** Llama-style `attention_bias: true` (Qwen3): q, k, v and o biases. */
const OPTIONAL_BIAS: TensorRule[] = [
	...QKV_BIAS.map((r) => ({ ...r, when: (d: MoeDims) => d.attentionBias })),
	{ name: "model.layers.{l}.self_attn.o_proj.bias", shape: (d) => [d.hidden], when: (d) => d.attentionBias },
];

const QK_NORM: TensorRule[] = [
	{ name: "model.layers.{l}.self_attn.q_norm.weight", shape: (d) => [d.headDim] },
	{ name: "model.layers.{l}.self_attn.k_norm.weight", shape: (d) => [d.headDim] },
];

/** `prefix.{gate,up,down}_proj.weight` of a SiLU-gated MLP of intermediate size `size(d)`. */
function mlp(prefix: string, size: (d: MoeDims) => number): TensorRule[] {
	return [
		{ name: `${prefix}.gate_proj.weight`, shape: (d) => [size(d), d.hidden] },
		{ name: `${prefix}.up_proj.weight`, shape: (d) => [size(d), d.hidden] },
		{ name: `${prefix}.down_proj.weight`, shape: (d) => [d.hidden, size(d)] },
	];
}

const DENSE_MLP = mlp("model.layers.{l}.mlp", (d) => d.intermediate);
const ROUTER: TensorRule = { name: "model.layers.{l}.mlp.gate.weight", shape: (d) => [d.experts, d.hidden] };

/** transformers 5: every expert's gate_proj and up_proj rows stacked [E, 2I, H], down_proj [E, H, I]. */
const FUSED_EXPERTS: TensorRule[] = [
	{ name: "model.layers.{l}.mlp.experts.gate_up_proj", shape: (d) => [d.experts, 2 * d.expertIntermediate, d.hidden] },
	{ name: "model.layers.{l}.mlp.experts.down_proj", shape: (d) => [d.experts, d.hidden, d.expertIntermediate] },
	ROUTER,
];
const FUSED_MARKER = "model.layers.{l}.mlp.experts.gate_up_proj";

const QWEN_EXPERTS = mlp("model.layers.{l}.mlp.experts.{e}", (d) => d.expertIntermediate);

/** Tables keyed by config.json's model_type. */
export const MOE_TENSOR_TABLES: Readonly<Record<string, MoeTensorTable>> = {
	mixtral: {
		keys: { experts: "num_local_experts", expertIntermediate: "intermediate_size" },
		model: MODEL,
		layer: ATTENTION,
		denseMlp: [],
		sparse: [],
		perExpert: [
			{ name: "model.layers.{l}.block_sparse_moe.gate.weight", shape: (d) => [d.experts, d.hidden] },
			{ name: "model.layers.{l}.block_sparse_moe.experts.{e}.w1.weight", shape: (d) => [d.expertIntermediate, d.hidden] },
			{ name: "model.layers.{l}.block_sparse_moe.experts.{e}.w2.weight", shape: (d) => [d.hidden, d.expertIntermediate] },
			{ name: "model.layers.{l}.block_sparse_moe.experts.{e}.w3.weight", shape: (d) => [d.expertIntermediate, d.hidden] },
		],
		fused: FUSED_EXPERTS,
		fusedMarker: FUSED_MARKER,
	},
	qwen2_moe: {
		keys: { experts: "num_experts", expertIntermediate: "moe_intermediate_size", sharedIntermediate: "shared_expert_intermediate_size" },
		model: MODEL,
		layer: [...ATTENTION, ...QKV_BIAS],
		denseMlp: DENSE_MLP,
		sparse: [
			...mlp("model.layers.{l}.mlp.shared_expert", (d) => d.sharedIntermediate),
			{ name: "model.layers.{l}.mlp.shared_expert_gate.weight", shape: (d) => [1, d.hidden] },
		],
		perExpert: [ROUTER, ...QWEN_EXPERTS],
		fused: FUSED_EXPERTS,
		fusedMarker: FUSED_MARKER,
	},
	qwen3_moe: {
		keys: { experts: "num_experts", expertIntermediate: "moe_intermediate_size" },
		model: MODEL,
		layer: [...ATTENTION, ...OPTIONAL_BIAS, ...QK_NORM],
		denseMlp: DENSE_MLP,
		sparse: [],
		perExpert: [ROUTER, ...QWEN_EXPERTS],
		fused: FUSED_EXPERTS,
		fusedMarker: FUSED_MARKER,
	},
	// DeepSeek-MoE v1 (remote code of deepseek-moe-16b): n_shared_experts are one MLP of n × moe_intermediate_size.
	deepseek: {
		keys: {
			experts: "n_routed_experts",
			expertIntermediate: "moe_intermediate_size",
			sharedIntermediate: (c) => (typeof c.n_shared_experts === "number" && typeof c.moe_intermediate_size === "number" ? c.n_shared_experts * c.moe_intermediate_size : 0),
		},
		sparseLayer: (c, l) => {
			const first = typeof c.first_k_dense_replace === "number" ? c.first_k_dense_replace : 0;
			const freq = typeof c.moe_layer_freq === "number" ? c.moe_layer_freq : 1;
			return l >= first && freq > 0 && l % freq === 0;
		},
		model: MODEL,
		layer: [...ATTENTION, ...OPTIONAL_BIAS],
		denseMlp: DENSE_MLP,
		sparse: mlp("model.layers.{l}.mlp.shared_experts", (d) => d.sharedIntermediate).map((r) => ({ ...r, when: (d: MoeDims) => d.sharedIntermediate > 0 })),
		perExpert: [ROUTER, ...QWEN_EXPERTS],
		fused: [],
		fusedMarker: "model.layers.{l}.mlp.experts.gate_up_proj",
	},
};
