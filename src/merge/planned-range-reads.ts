import type { RangeWeightSource } from "../hub/remote-weight-files.js";
import { type PlannedRead, RangePrefetch } from "../hub/range-prefetch.js";
import { dtypeBytes } from "../safetensors/index.js";
import type { MergePlan } from "./plan-merge.js";
import { partElements } from "./write-shards.js";

/**
 * The bytes the writer will read from range-read (Hub) files, in the order it reads them: shard by
 * shard, tensor by tensor, part by part, as write-shards.ts does. The forward pass of hidden gates
 * reads on its own (through the readers' answers).
 */
export function plannedRangeReads(plan: Pick<MergePlan, "shards" | "tensors" | "weights" | "models">, skipShards: ReadonlySet<string> = new Set()): PlannedRead[] {
	const byName = new Map(plan.tensors.map((t) => [t.name, t]));
	const reads: PlannedRead[] = [];
	for (const shard of plan.shards) {
		if (skipShards.has(shard.fileName)) continue;
		for (const { spec } of shard.tensors) {
			for (const part of byName.get(spec.name)?.parts ?? []) {
				if (part.kind !== "copy") continue;
				const source = plan.models[part.source]?.weightFiles as RangeWeightSource | undefined;
				const { file, info } = plan.weights[part.source].get(part.name);
				const reader = source?.readerOf?.(file);
				if (!reader) continue;
				const bytes = dtypeBytes(info.dtype);
				const { first, count } = partElements(part, info.shape);
				reads.push({ reader, start: info.begin + first * bytes, end: info.begin + (first + count) * bytes });
			}
		}
	}
	return reads;
}

/**
 * Fetches the writer's reads of `plan` ahead (range-prefetch.ts), but for the shards in `skipShards`
 * (a resumed merge's kept ones: if one fails its check after all, its reads go the readers' own way);
 * undefined when no input is range-read.
 */
export function prefetchPlan(plan: Pick<MergePlan, "shards" | "tensors" | "weights" | "models">, skipShards?: ReadonlySet<string>): RangePrefetch | undefined {
	const reads = plannedRangeReads(plan, skipShards);
	if (reads.length === 0) return undefined;
	const prefetch = new RangePrefetch(reads);
	prefetch.start();
	return prefetch;
}
