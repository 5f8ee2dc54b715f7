/** Floating-point operations of the forward pass of hidden-state gates, as moe-merge runs it. */
import type { GateSummary } from "../src/gates/index.js";
import type { DenseConfig } from "../src/inputs/dense-config.js";

/**
 * GFLOP of the seven linear layers (q, k, v, o, gate, up, down; 2 per multiply-add) over the layers the
 * pass ran: every token through each, except that the last layer run for last-token modes (hidden,
 * hidden_last) takes q/k/v for every token and o and the MLP for each prompt's last token only.
 */
export function forwardGflop(config: DenseConfig, gates: GateSummary): number {
	const H = config.hiddenSize;
	const q = H * config.numHeads * config.headDim;
	const kv = 2 * H * config.numKvHeads * config.headDim;
	const rest = q + 3 * H * config.intermediateSize;
	const tokens = gates.tokens ?? 0;
	const prompts = gates.distinctPrompts ?? 0;
	const layers = gates.forward?.layers ?? 0;
	const lastOnly = gates.mode !== "hidden_avg" && layers > 0;
	const full = lastOnly ? layers - 1 : layers;
	const macs = full * tokens * (q + kv + rest) + (lastOnly ? tokens * (q + kv) + prompts * rest : 0);
	return (2 * macs) / 1e9;
}
