import type { PlanMergeOptions } from "../merge/plan-merge.js";
import type { MergeCliOptions } from "./merge-cli-options.js";

/** The plan options `merge` and `plan` take from the command line, mapped once. */
export function planOptionsOf(options: MergeCliOptions): Pick<PlanMergeOptions, "layout" | "shardSize" | "seed" | "threads" | "training"> {
	return {
		layout: options.layout,
		shardSize: options.outShardSize,
		seed: options.randomSeed,
		threads: options.threads,
		training: { outputRouterLogits: options.outputRouterLogits, routerAuxLossCoef: options.routerAuxLossCoef },
	};
}
