/**
 * report.html: one self-contained page (inline CSS, SVG and a few lines of JS; no network), readable
 * without JS and printable. Per prompt a layers × experts heatmap of mean router probability and a
 * token view (each token coloured by its top expert at the chosen layer); then the expert-similarity
 * matrix. Charts are static SVG drawn here, so the page works as a saved file anywhere.
 */
import type { PromptReport, RoutingReport } from "./report-data.js";

const CELL = 34;
const LABEL = 64;

const escape = (text: string): string =>
	text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** Visible form of a token (spaces and newlines shown). */
const showToken = (text: string): string => escape(text.replace(/\n/g, "⏎").replace(/ /g, "·") || "∅");
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : "NaN");

/** A categorical colour per expert (golden-angle hues). */
export function expertColour(e: number): string {
	return `hsl(${Math.round((e * 137.508) % 360)} 65% 55%)`;
}

/** White → deep blue for 0 → 1. */
function heat(v: number): string {
	const t = Number.isFinite(v) ? Math.max(0, Math.min(1, v)) : 0;
	return `hsl(215 70% ${Math.round(97 - t * 62)}%)`;
}

function matrixSvg(kind: string, rows: { label: string; values: number[] }[], columns: string[], caption: string, format: (v: number) => string): string {
	const width = LABEL + columns.length * CELL;
	const height = 20 + rows.length * CELL;
	const cells = rows.flatMap((row, r) =>
		row.values.map((v, c) => {
			const x = LABEL + c * CELL;
			const y = 20 + r * CELL;
			const dark = Number.isFinite(v) && v > 0.55;
			return `<g class="cell ${kind}-cell"><rect x="${x}" y="${y}" width="${CELL - 2}" height="${CELL - 2}" fill="${heat(v)}"><title>${escape(`${row.label}, ${columns[c]}: ${Number.isFinite(v) ? v.toFixed(4) : "NaN"}`)}</title></rect>`
				+ `<text x="${x + (CELL - 2) / 2}" y="${y + CELL / 2 + 2}" class="${dark ? "on-dark" : ""}">${format(v)}</text></g>`;
		}),
	);
	const colLabels = columns.map((c, i) => `<text x="${LABEL + i * CELL + (CELL - 2) / 2}" y="14">${escape(c)}</text>`);
	const rowLabels = rows.map((row, r) => `<text x="${LABEL - 6}" y="${20 + r * CELL + CELL / 2 + 2}" class="row-label">${escape(row.label)}</text>`);
	return `<figure><svg class="matrix ${kind}" role="img" aria-label="${escape(caption)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${colLabels.join("")}${rowLabels.join("")}${cells.join("")}</svg><figcaption>${escape(caption)}</figcaption></figure>`;
}

function promptHeatmap(p: PromptReport, experts: number): string {
	const rows = p.layers.map((l) => ({
		label: `layer ${l.layer}`,
		values: Array.from({ length: experts }, (_, e) => l.router_probs.reduce((s, t) => s + t[e]!, 0) / Math.max(l.router_probs.length, 1)),
	}));
	const columns = Array.from({ length: experts }, (_, e) => `e${e}`);
	return matrixSvg("heatmap", rows, columns, "mean router probability over the prompt's tokens, per MoE layer (rows) and expert (columns)", pct);
}

function tokenView(p: PromptReport, index: number): string {
	const layerOptions = [`<option value="all">all layers (most weight)</option>`, ...p.layers.map((l, i) => `<option value="${i}">layer ${l.layer}</option>`)];
	const tokens = p.tokens.map((text, t) => {
		// Over all layers: the expert with the most summed router probability for this token.
		const sums = p.layers.reduce((acc, l) => acc.map((v, e) => v + l.router_probs[t]![e]!), new Array<number>(p.expert_share.length).fill(0));
		const top = sums.indexOf(Math.max(...sums));
		const perLayer = p.layers.map((l) => `layer ${l.layer}: ${l.experts[t]!.map((e) => `e${e} ${pct(l.router_probs[t]![e]!)}`).join(", ")}`);
		return `<span class="token" data-t="${t}" style="--c:${expertColour(top)}" title="${escape(perLayer.join("\n"))}">${showToken(text)}<sub>e${top}</sub></span>`;
	});
	return `<div class="tokens" data-prompt="${index}"><label>experts at <select class="layer-select">${layerOptions.join("")}</select></label><div class="token-row">${tokens.join("")}</div></div>`;
}

function promptSection(report: RoutingReport, p: PromptReport, i: number): string {
	const E = report.model.experts;
	const own = p.expert === null ? "extra prompt" : `meant for expert ${p.expert}${report.experts[p.expert]?.name ? ` (${escape(report.experts[p.expert]!.name!)})` : ""}`;
	const verdict = p.own_expert_wins === null ? `top expert e${p.top_expert}` : p.own_expert_wins ? `<span class="ok">its expert wins</span>` : `<span class="bad">expert e${p.top_expert} wins</span>`;
	const shares = p.expert_share.map((s, e) => `<span class="chip" style="--c:${expertColour(e)}">e${e} ${pct(s)}</span>`).join(" ");
	const next = p.next_tokens.map((t) => `<code>${showToken(t.text)}</code> ${pct(t.probability)}`).join(", ");
	return `<section class="prompt" id="prompt-${i}"><h2>Prompt ${i}: <q>${escape(p.text)}</q></h2>`
		+ `<p>${own} — ${verdict}. Routing weight: ${shares}</p><p>Next token: ${next}</p>`
		+ `<div class="charts">${promptHeatmap(p, E)}${tokenView(p, i)}</div></section>`;
}

export function renderReportHtml(report: RoutingReport): string {
	const E = report.model.experts;
	const names = report.experts.map((x) => `<tr><td><span class="chip" style="--c:${expertColour(x.index)}">e${x.index}</span></td><td>${escape(x.name ?? "—")}</td></tr>`).join("");
	const agreement = report.routing_agreement === null ? "no recipe: no routing agreement" : `routing agreement <strong>${pct(report.routing_agreement)}</strong> (share of the recipe's prompts whose own expert gets the most routing weight)`;
	const similarity = matrixSvg(
		"similarity",
		report.expert_similarity.mean.map((values, a) => ({ label: `e${a}`, values })),
		Array.from({ length: E }, (_, e) => `e${e}`),
		"expert similarity: cosine of the experts' router probabilities over all tokens of all prompts, mean over MoE layers",
		(v) => (Number.isFinite(v) ? v.toFixed(2) : "NaN"),
	);
	const closest = report.expert_similarity.layers.map((l) => `<li>layer ${l.layer}: ${l.closest.map((c) => `e${c.a}–e${c.b} ${c.similarity.toFixed(3)}`).join(", ")}</li>`).join("");
	// The page's data for the token view's layer switch; "<" escaped so it cannot close the script element.
	const data = JSON.stringify(report.prompts.map((p) => p.layers.map((l) => l.experts.map((top, t) => [top[0], l.router_probs[t]![top[0]!]])))).replace(/</g, "\\u003c");
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Routing report: ${escape(report.model.path)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1b1f24}
h1{font-size:22px}h2{font-size:16px;margin:0 0 6px}q{font-style:italic}
table{border-collapse:collapse}td{padding:2px 8px}
.chip{display:inline-block;border-left:10px solid var(--c);padding:0 5px;background:#f3f4f6;border-radius:3px}
.prompt{border-top:1px solid #d0d7de;padding:14px 0;break-inside:avoid}
.charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
figure{margin:0}figcaption{font-size:12px;color:#57606a;max-width:420px}
svg.matrix text{font-size:10px;text-anchor:middle;fill:#1b1f24}svg.matrix text.on-dark{fill:#fff}svg.matrix text.row-label{text-anchor:end}
.tokens{max-width:560px}.token-row{margin-top:6px;line-height:2.1}
.token{border-bottom:4px solid var(--c);margin:0 2px;padding:0 2px;font-family:ui-monospace,monospace;white-space:pre}
.token sub{font-size:9px;color:#57606a}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
@media print{body{margin:0;max-width:none}select{display:none}.prompt{page-break-inside:avoid}}
</style></head><body>
<h1>Routing report</h1>
<p><code>${escape(report.model.path)}</code>: ${escape(report.model.model_type)}, ${E} experts, top ${report.model.experts_per_token}, ${report.model.moe_layers.length} MoE layers of ${report.model.layers}. ${agreement}. Made by ${escape(report.tool)}.</p>
<table><tbody>${names}</tbody></table>
${report.prompts.map((p, i) => promptSection(report, p, i)).join("\n")}
<section class="prompt" id="similarity"><h2>Expert similarity</h2><div class="charts">${similarity}<div><p>Closest experts per layer:</p><ul>${closest}</ul></div></div></section>
<script type="application/json" id="token-data">${data}</script>
<script>
(() => {
	const data = JSON.parse(document.getElementById("token-data").textContent);
	const colour = (e) => "hsl(" + Math.round((e * 137.508) % 360) + " 65% 55%)";
	for (const view of document.querySelectorAll(".tokens")) {
		const layers = data[Number(view.dataset.prompt)];
		const spans = [...view.querySelectorAll(".token")];
		const initial = spans.map((s) => [s.style.getPropertyValue("--c"), s.querySelector("sub").textContent]);
		view.querySelector(".layer-select").addEventListener("change", (event) => {
			const value = event.target.value;
			spans.forEach((span, t) => {
				const [c, label] = value === "all" ? initial[t] : [colour(layers[Number(value)][t][0]), "e" + layers[Number(value)][t][0]];
				span.style.setProperty("--c", c);
				span.querySelector("sub").textContent = label;
			});
		});
	}
})();
</script>
</body></html>
`;
}
