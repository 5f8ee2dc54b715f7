import { dtypeBytes, isFloatDType, toFloat32 } from "../safetensors/index.js";
import type { CheckpointProblem } from "./problem.js";
import type { ShardTensor } from "./open-checkpoint-shards.js";

/** Elements read per step: memory stays at a few MB whatever the tensor size. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * Reads every floating-point tensor in chunks and names those holding NaN or Inf, with counts.
 * F64 and 8-bit floats are not scanned (nothing we merge has them); integer tensors cannot hold them.
 */
export async function scanValues(tensors: ReadonlyMap<string, ShardTensor>): Promise<{ problems: CheckpointProblem[]; scanned: number }> {
	const bytes = new Uint8Array(CHUNK_ELEMENTS * 4);
	const floats = new Float32Array(CHUNK_ELEMENTS);
	const problems: CheckpointProblem[] = [];
	let scanned = 0;
	for (const [name, { file, info, shard }] of tensors) {
		if (!isFloatDType(info.dtype)) continue;
		const width = dtypeBytes(info.dtype);
		const count = (info.end - info.begin) / width;
		let nan = 0;
		let inf = 0;
		let first = -1;
		for (let done = 0; done < count; done += CHUNK_ELEMENTS) {
			const n = Math.min(CHUNK_ELEMENTS, count - done);
			await shard.read(info, done * width, n * width, bytes);
			const values = toFloat32(bytes.subarray(0, n * width), info.dtype, n, floats);
			for (let i = 0; i < n; i++) {
				const v = values[i]!;
				if (v - v === 0) continue; // finite
				if (Number.isNaN(v)) nan++;
				else inf++;
				if (first < 0) first = done + i;
			}
		}
		scanned++;
		if (nan + inf > 0) {
			problems.push({ file, message: `tensor ${JSON.stringify(name)} holds ${nan} NaN and ${inf} infinite value(s) of ${count} (first at element ${first})` });
		}
	}
	return { problems, scanned };
}
