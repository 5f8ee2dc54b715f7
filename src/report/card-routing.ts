/** The model card's routing summary from a routing report. */
import type { CardRouting } from "../output/model-card.js";
import type { RoutingReport } from "./report-data.js";

export function cardRouting(report: RoutingReport): CardRouting {
	return {
		agreement: report.routing_agreement,
		prompts: report.prompts.map((p) => ({
			text: p.text,
			expert: p.expert,
			topExpert: p.top_expert,
			ownShare: p.expert === null ? null : p.expert_share[p.expert]!,
		})),
	};
}
