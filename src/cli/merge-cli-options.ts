import type { GgufTypeName } from "../gguf/tensor-types.js";

/** Options shared by the commands that plan or run a merge. */
export interface MergeCliOptions {
	/** GGUF files to write beside the shards (`--gguf f16 --gguf q8_0`). */
	gguf?: GgufTypeName[];
	output?: string;
	overwrite?: boolean;
	outShardSize?: number;
	layout: "per-expert" | "fused";
	randomSeed?: number;
	threads?: number;
	copyTokenizer: boolean;
	iUnderstandThisIsNotUsefulWithoutTraining?: boolean;
	json?: boolean;
	verbose?: boolean;
	/** merge only (push-command.ts): push the output, and check sources against the recipe's lock. */
	pushToHub?: string;
	private?: boolean;
	revision?: string;
	locked?: boolean;
	/** false with --no-local-copy: merge from the Hub to the Hub (`merge`), or plan such a merge's disk and transfer (`plan`). */
	localCopy?: boolean;
	/** merge only: continue the partial folder of a killed merge of the same job. */
	resume?: boolean;
	/** merge only (report-command.ts): run the routing report on the output. */
	report?: boolean;
	/** No progress display (mergekit-moe's --quiet). */
	quiet?: boolean;
	/** Router training settings for config.json (win over the recipe's). */
	outputRouterLogits?: boolean;
	routerAuxLossCoef?: number;
}
