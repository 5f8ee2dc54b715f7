/**
 * The MoE checkpoints the report reads, as data: per architecture, the config keys and the tensor names
 * of the router, the routed experts (per-expert files as transformers 4 saves them, or transformers 5's
 * fused `gate_up_proj` [E, 2I, H] / `down_proj` [E, H, I], which mergekit-moe writes) and the shared
 * expert. One forward pass (moe-block.ts) serves every entry.
 */

/** One gated MLP's three projections (PyTorch Linear layout [out, in]). */
export interface MlpNames {
	gate: string;
	up: string;
	down: string;
}

export interface MoeArchitecture {
	modelType: string;
	/** The dense model_type with the same attention (rope, biases, q/k norms, windows). */
	attentionType: "llama" | "mistral" | "qwen2" | "qwen3";
	/** Config keys of the routed expert count, in order of preference (transformers 5 renamed some). */
	expertsKeys: string[];
	/** Config key of each routed expert's intermediate size. */
	expertIntermediateKey: string;
	/** Whether top-k weights are renormalised to sum to 1: Mixtral always, Qwen by `norm_topk_prob` (default false). */
	normTopK(raw: Record<string, unknown>): boolean;
	/** Whether layer l has a routed MoE block (else a dense MLP named `denseMlp`). */
	isSparse(raw: Record<string, unknown>, layer: number): boolean;
	/** The layouts a layer's routed experts can be stored in, tried in order. */
	layouts: {
		router: (l: number) => string;
		expert?: (l: number, e: number) => MlpNames;
		fused?: (l: number) => { gateUp: string; down: string };
	}[];
	denseMlp?: (l: number) => MlpNames;
	/** Always-on experts: Qwen2-MoE's scaled per token by sigmoid(shared_expert_gate · x), DeepSeek's added as they are. */
	shared?: {
		/** Their (stacked) intermediate size; 0 or absent = none in this checkpoint. */
		intermediate: (raw: Record<string, unknown>) => unknown;
		mlp: (l: number) => MlpNames;
		gate?: (l: number) => string;
	};
}

const layer = (l: number, rest: string): string => `model.layers.${l}.${rest}`;
const projections = (prefix: string, names: [string, string, string] = ["gate_proj", "up_proj", "down_proj"]): MlpNames => ({
	gate: `${prefix}.${names[0]}.weight`,
	up: `${prefix}.${names[1]}.weight`,
	down: `${prefix}.${names[2]}.weight`,
});
/** transformers 5's fused experts, the same names in all three architectures. */
const fusedLayout = {
	router: (l: number) => layer(l, "mlp.gate.weight"),
	fused: (l: number) => ({ gateUp: layer(l, "mlp.experts.gate_up_proj"), down: layer(l, "mlp.experts.down_proj") }),
};
const qwenPerExpert = {
	router: (l: number) => layer(l, "mlp.gate.weight"),
	expert: (l: number, e: number) => projections(layer(l, `mlp.experts.${e}`)),
};
/** Qwen MoE layers: sparse unless listed in mlp_only_layers or off the decoder_sparse_step grid. */
const qwenSparse = (raw: Record<string, unknown>, l: number): boolean => {
	const only = Array.isArray(raw.mlp_only_layers) ? (raw.mlp_only_layers as unknown[]) : [];
	const step = typeof raw.decoder_sparse_step === "number" ? raw.decoder_sparse_step : 1;
	return !only.includes(l) && step > 0 && (l + 1) % step === 0;
};
/** What Qwen2-MoE and Qwen3-MoE share (transformers 5 names the expert count num_local_experts). */
const qwenMoe = {
	expertsKeys: ["num_experts", "num_local_experts"],
	expertIntermediateKey: "moe_intermediate_size",
	normTopK: (raw: Record<string, unknown>): boolean => raw.norm_topk_prob === true,
	isSparse: qwenSparse,
	layouts: [qwenPerExpert, fusedLayout],
	denseMlp: (l: number): MlpNames => projections(layer(l, "mlp")),
};

export const MOE_ARCHITECTURES: readonly MoeArchitecture[] = [
	{
		modelType: "mixtral",
		attentionType: "mistral",
		expertsKeys: ["num_local_experts"],
		expertIntermediateKey: "intermediate_size",
		normTopK: () => true,
		isSparse: () => true,
		layouts: [
			{
				router: (l) => layer(l, "block_sparse_moe.gate.weight"),
				expert: (l, e) => projections(layer(l, `block_sparse_moe.experts.${e}`), ["w1", "w3", "w2"]),
			},
			fusedLayout,
		],
	},
	{
		...qwenMoe,
		modelType: "qwen2_moe",
		attentionType: "qwen2",
		shared: {
			intermediate: (raw) => raw.shared_expert_intermediate_size,
			mlp: (l) => projections(layer(l, "mlp.shared_expert")),
			gate: (l) => layer(l, "mlp.shared_expert_gate.weight"),
		},
	},
	{ ...qwenMoe, modelType: "qwen3_moe", attentionType: "qwen3" },
	// DeepSeek-MoE v1 (deepseek-moe-16b's remote code): Llama attention, softmax scores, top-k weights
	// renormalised only when top_k > 1, ungated shared experts, dense layers before first_k_dense_replace.
	{
		modelType: "deepseek",
		attentionType: "llama",
		expertsKeys: ["n_routed_experts"],
		expertIntermediateKey: "moe_intermediate_size",
		normTopK: (raw) => raw.norm_topk_prob === true && typeof raw.num_experts_per_tok === "number" && raw.num_experts_per_tok > 1,
		isSparse: (raw, l) => {
			const first = typeof raw.first_k_dense_replace === "number" ? raw.first_k_dense_replace : 0;
			const freq = typeof raw.moe_layer_freq === "number" ? raw.moe_layer_freq : 1;
			return l >= first && freq > 0 && l % freq === 0;
		},
		layouts: [qwenPerExpert],
		denseMlp: (l) => projections(layer(l, "mlp")),
		shared: {
			intermediate: (raw) => (typeof raw.n_shared_experts === "number" && typeof raw.moe_intermediate_size === "number" ? raw.n_shared_experts * raw.moe_intermediate_size : 0),
			mlp: (l) => projections(layer(l, "mlp.shared_experts")),
		},
	},
];

export type MoeLayout = MoeArchitecture["layouts"][number];
