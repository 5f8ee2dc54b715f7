import type { PlannedTensor, TensorPart } from "../plan/tensor-plan.js";
import { SeededRandom } from "../random/seeded-random.js";
import { type DType, type ModelWeights, type ShardPlan, ShardWriter, convertDtype, dtypeBytes, fromFloat32, toFloat32 } from "../safetensors/index.js";

export interface WriteProgress {
	bytesDone: number;
	bytesTotal: number;
	tensorsDone: number;
	tensorsTotal: number;
	tensor: string;
}

export interface WriteShardsOptions {
	dir: string;
	tensors: PlannedTensor[];
	shards: ShardPlan[];
	/** Open weights, indexed like TensorPart.source. */
	sources: ModelWeights[];
	seed: number;
	/** Elements per chunk; memory is about 6 × 4 bytes × this, whatever the model size. */
	chunkElements?: number;
	onProgress?: (progress: WriteProgress) => void;
	signal?: AbortSignal;
}

/** One of two alternating buffer sets: a chunk is read into one while the other is being written. */
interface BufferSet {
	input: Uint8Array;
	output: Uint8Array;
	floats: Float32Array;
}

const DEFAULT_CHUNK_ELEMENTS = 4 << 20;

/**
 * Streams every planned tensor, chunk by chunk, from the input shards into the output shards:
 * positional reads, dtype conversion and noise/scale in bounded buffers, and the read of the next
 * chunk overlapping the write of the previous one, so throughput follows the disk.
 */
export async function writeShards(options: WriteShardsOptions): Promise<void> {
	const chunk = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
	const byName = new Map(options.tensors.map((t) => [t.name, t]));
	const bytesTotal = options.shards.reduce((sum, s) => sum + s.dataBytes, 0);
	const sets: BufferSet[] = [0, 1].map(() => ({
		input: new Uint8Array(chunk * 4),
		output: new Uint8Array(chunk * 4),
		floats: new Float32Array(chunk),
	}));
	let turn = 0;
	let bytesDone = 0;
	let tensorsDone = 0;

	for (const shard of options.shards) {
		const writer = await ShardWriter.create(options.dir, shard);
		let pending: Promise<void> = Promise.resolve();
		try {
			for (const { spec } of shard.tensors) {
				const tensor = byName.get(spec.name);
				if (!tensor) throw new Error(`shard plan names ${spec.name}, which is not in the tensor plan`);
				let planned = 0;
				for (const part of tensor.parts) {
					for await (const filled of readPart(part, tensor.dtype, options, sets, () => turn++ % 2)) {
						options.signal?.throwIfAborted();
						await pending;
						pending = writer.write(filled);
						planned += filled.byteLength;
						bytesDone += filled.byteLength;
						options.onProgress?.({ bytesDone, bytesTotal, tensorsDone, tensorsTotal: options.tensors.length, tensor: tensor.name });
					}
				}
				const want = tensor.shape.reduce((a, b) => a * b, 1) * dtypeBytes(tensor.dtype);
				if (planned !== want) throw new Error(`${tensor.name}: parts produced ${planned} bytes, shape needs ${want}`);
				tensorsDone++;
			}
			await pending;
			await writer.finish();
		} catch (error) {
			await pending.catch(() => {});
			await writer.abort().catch(() => {});
			throw error;
		}
	}
	options.onProgress?.({ bytesDone, bytesTotal, tensorsDone, tensorsTotal: options.tensors.length, tensor: "" });
}

/** Yields the output bytes of one part in chunks, each in the next buffer set. */
async function* readPart(
	part: TensorPart,
	dtype: DType,
	options: WriteShardsOptions,
	sets: BufferSet[],
	nextSet: () => number,
): AsyncGenerator<Uint8Array> {
	const chunk = sets[0].floats.length;
	const outBytes = dtypeBytes(dtype);
	if (part.kind === "values") {
		for (let start = 0; start < part.values.length; start += chunk) {
			const set = sets[nextSet()];
			const n = Math.min(chunk, part.values.length - start);
			yield fromFloat32(part.values.subarray(start, start + n), dtype, set.output.subarray(0, n * outBytes));
		}
		return;
	}
	const { file, info } = options.sources[part.source].get(part.name);
	const inBytes = dtypeBytes(info.dtype);
	const count = info.shape.reduce((a, b) => a * b, 1);
	const rng = part.noise ? new SeededRandom(options.seed, part.noise.key) : undefined;
	for (let start = 0; start < count; start += chunk) {
		const set = sets[nextSet()];
		const n = Math.min(chunk, count - start);
		const out = set.output.subarray(0, n * outBytes);
		if (!part.scale && !rng && info.dtype === dtype) {
			await file.read(info, start * inBytes, n * inBytes, out);
			yield out;
			continue;
		}
		const input = set.input.subarray(0, n * inBytes);
		await file.read(info, start * inBytes, n * inBytes, input);
		if (!part.scale && !rng) {
			convertDtype(input, info.dtype, out, dtype, n);
			yield out;
			continue;
		}
		const floats = toFloat32(input, info.dtype, n, set.floats.subarray(0, n));
		const scale = part.scale ?? 1;
		const std = part.noise?.std ?? 0;
		// mergekit-moe's order: noise first, then residual_scale.
		for (let i = 0; i < n; i++) floats[i] = (floats[i] + (rng ? rng.normal() * std : 0)) * scale;
		yield fromFloat32(floats, dtype, out);
	}
}
