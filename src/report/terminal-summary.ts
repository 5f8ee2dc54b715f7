/** The report in the terminal: per prompt its expert shares, own-expert verdict and next tokens; agreement; closest experts. */
import type { RoutingReport } from "./report-data.js";

const percent = (v: number): string => `${(v * 100).toFixed(0)}%`;
const quote = (text: string, max = 48): string => JSON.stringify(text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function formatSummary(report: RoutingReport): string {
	const { model } = report;
	const name = (e: number): string => {
		const n = report.experts[e]?.name;
		return n ? `${e} (${n})` : `${e}`;
	};
	const lines = [`${model.model_type}: ${model.experts} experts, top ${model.experts_per_token}, ${model.moe_layers.length} MoE layers of ${model.layers}, ${report.prompts.length} prompts`];
	report.prompts.forEach((p, i) => {
		const verdict = p.expert === null ? `top expert ${name(p.top_expert)}` : p.own_expert_wins ? `its expert ${name(p.expert)} wins` : `its expert ${name(p.expert)} loses to ${name(p.top_expert)}`;
		lines.push(`prompt ${i} ${quote(p.text)}: ${verdict}`);
		const shares = (values: number[]): string => values.map((s, e) => `${e}: ${percent(s)}`).join("  ");
		lines.push(`  tokens routed (top-${model.experts_per_token} slots over layers): ${shares(p.chosen_share)}; routing weight: ${shares(p.expert_share)}`);
		const broken = p.next_tokens.some((t) => !Number.isFinite(t.probability));
		lines.push(`  next token: ${p.next_tokens.map((t) => `${JSON.stringify(t.text)} ${Number.isFinite(t.probability) ? t.probability.toFixed(2) : "NaN"}`).join(", ")}${broken ? "  (non-finite logits: the merge is broken)" : ""}`);
	});
	if (report.routing_agreement !== null) {
		const judged = report.prompts.filter((p) => p.expert !== null);
		const wins = judged.filter((p) => p.own_expert_wins).length;
		lines.push(`routing agreement: ${percent(report.routing_agreement)} (${wins} of ${judged.length} prompts go most to their own expert)`);
	}
	for (const layer of report.expert_similarity.layers) {
		const pairs = layer.closest.slice(0, 2).map((c) => `${c.a}~${c.b} ${c.similarity.toFixed(3)}`);
		if (pairs.length > 0) lines.push(`layer ${layer.layer}: closest experts ${pairs.join(", ")}`);
	}
	return `${lines.join("\n")}\n`;
}
