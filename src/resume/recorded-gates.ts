import type { GateSummary } from "../gates/index.js";
import type { ResumeRecord } from "./resume-record.js";

/** Hidden-state gates as the resume record keeps them (JSON: an infinite condition number and NaN cosines become null). */
export function gatesForRecord(gates: GateSummary, warnings: string[]): NonNullable<ResumeRecord["gates"]> {
	return { summary: JSON.parse(JSON.stringify(gates)), warnings };
}

/** The recorded gates back as the merge reports them (null is Infinity for a condition number, NaN for a cosine). */
export function gatesFromRecord(recorded: NonNullable<ResumeRecord["gates"]>): { gates: GateSummary; warnings: string[] } {
	const summary = recorded.summary as GateSummary;
	const layers = summary.layers.map((l) => ({
		layer: l.layer,
		conditionNumber: l.conditionNumber ?? Number.POSITIVE_INFINITY,
		minCosine: l.minCosine ?? Number.NaN,
		maxCosine: l.maxCosine ?? Number.NaN,
	}));
	return { gates: { ...summary, layers }, warnings: recorded.warnings };
}
