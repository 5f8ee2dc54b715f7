import { dtypeBytes } from "../safetensors/index.js";
import type { MergePlan } from "./plan-merge.js";

/** What a merge streamed from the Hub to the Hub (`--no-local-copy`) needs, from its plan. */
export interface StreamFigures {
	/** Output bytes on disk at most: the two largest shards (the one uploading, the one being written); the small files come on top. */
	diskBytes: number;
	/** Tensor bytes the merge reads from Hub inputs (each part once). */
	readBytes: number;
	/** Whole size of the Hub input weight files it reads from: what a download would move, and at most what range reads move. */
	inputFileBytes: number;
	/** Bytes uploaded: every shard. */
	uploadBytes: number;
	/** Hours at each link speed (bytes/s) to move readBytes + uploadBytes one after the other (an upper bound: both directions overlap). */
	hoursAt: { bytesPerSecond: number; hours: number }[];
}

export const LINK_SPEEDS = [100e6, 1e9];

/** The figures of `plan` when the models `remote` says are read from the Hub (default: the Hub references). */
export function streamFigures(plan: Pick<MergePlan, "shards" | "tensors" | "weights" | "models" | "fileBytes">, remote = (i: number) => plan.models[i].ref.kind === "hub"): StreamFigures {
	const sizes = plan.shards.map((s) => s.headerBytes + s.dataBytes).sort((a, b) => b - a);
	const seen = new Set<string>();
	let readBytes = 0;
	const files = new Map<string, number>();
	for (const tensor of plan.tensors) {
		for (const part of tensor.parts) {
			if (part.kind !== "copy" || !remote(part.source)) continue;
			const { file, info } = plan.weights[part.source].get(part.name);
			const key = `${part.source}\0${part.name}\0${part.rows?.first ?? ""}`;
			if (seen.has(key)) continue;
			seen.add(key);
			const elements = info.shape.reduce((a, b) => a * b, 1);
			const cols = info.shape[info.shape.length - 1] ?? 1;
			readBytes += (part.rows ? part.rows.count * cols : elements) * dtypeBytes(info.dtype);
			const whole = plan.weights[part.source].shards().find((f) => f.path === file.path);
			if (whole) files.set(whole.path, whole.size);
		}
	}
	const uploadBytes = plan.fileBytes;
	return {
		diskBytes: (sizes[0] ?? 0) + (sizes[1] ?? 0),
		readBytes,
		inputFileBytes: [...files.values()].reduce((a, b) => a + b, 0),
		uploadBytes,
		hoursAt: LINK_SPEEDS.map((bytesPerSecond) => ({ bytesPerSecond, hours: (readBytes + uploadBytes) / bytesPerSecond / 3600 })),
	};
}
