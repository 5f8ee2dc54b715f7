/** The routing report: where a merged MoE model's router sends each prompt, layer by layer (docs/report.md). */
export { runReport, RECIPE_COPIES, type ReportOptions, type ReportResult } from "./run-report.js";
export type { RoutingReport, PromptReport, NextToken } from "./report-data.js";
export { renderReportHtml } from "./report-html.js";
export { formatSummary } from "./terminal-summary.js";
