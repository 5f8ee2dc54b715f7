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
	/** Elements per conversion chunk: scratch memory is 8 bytes × this (plus two 16 MiB staging buffers per shard writer), whatever the model size. */
	chunkElements?: number;
	onProgress?: (progress: WriteProgress) => void;
	signal?: AbortSignal;
	/** Shards already complete (a resumed merge) and their sha256: not written again. */
	done?: ReadonlyMap<string, string>;
	/** Awaited after each shard written is fsynced and hashed (the resume record notes it). */
	onShardWritten?: (shard: ShardPlan, sha256: string) => Promise<void>;
	/** Sees every tensor's output bytes, in order, before they are committed (GGUF files written from the same stream). */
	tap?: ShardTap;
}

/** What sees a merge's output bytes as they are written (MergeGgufWriters). */
export interface ShardTap {
	/** Bytes of tensor `name`, in order (calls may overlap: taken in call order); they may change once this resolves. */
	receive(tensor: string, bytes: Uint8Array): Promise<void>;
	/** Staging buffers for the shard writers (SequentialFileWriter's `buffers`): the tap's memory, so it takes the bytes where they are written. */
	stagingBuffers?: readonly Uint8Array[];
}

/** What a tensor's bytes are written through: the shard writer, or the same with a tap. */
type TensorSink = Pick<ShardWriter, "reserve" | "commit" | "write" | "bytesWritten">;

/**
 * The shard writer with `tap` shown each chunk of tensor `name` before it is committed. Bytes staged in
 * place are held in the staging buffer until the tap is done with them, while the stream goes on (the
 * writer refills that buffer only after); a chunk written by copy is waited for. A failure of the tap is
 * reported as itself, not as the shard's.
 */
function tapped(writer: ShardWriter, name: string, tap: ShardTap): TensorSink {
	let reserved: Uint8Array = new Uint8Array(0);
	let tapFailure: unknown;
	const asTapFailure = (error: unknown) => {
		throw tapFailure ?? error;
	};
	return {
		get bytesWritten() {
			return writer.bytesWritten;
		},
		reserve(max: number) {
			reserved = writer.reserve(max);
			return reserved;
		},
		async commit(n: number) {
			const done = tap.receive(name, reserved.subarray(0, n));
			done.catch((error) => {
				tapFailure ??= error;
			});
			writer.holdUntil(done);
			await writer.commit(n).catch(asTapFailure);
		},
		async write(chunk: Uint8Array) {
			await tap.receive(name, chunk);
			await writer.write(chunk).catch(asTapFailure);
		},
	};
}

/** Scratch space for conversions; the output bytes go straight into the writer's staging buffers. */
interface Scratch {
	input: Uint8Array;
	floats: Float32Array;
}

const DEFAULT_CHUNK_ELEMENTS = 4 << 20;

/**
 * Streams every planned tensor, chunk by chunk, from the input shards into the output shards:
 * source bytes are read (or converted) straight into the writer's staging buffer while the other
 * staging buffer is on its way to disk, so throughput follows the disk and memory stays bounded.
 */
export async function writeShards(options: WriteShardsOptions): Promise<Map<string, string>> {
	/** sha256 of each shard, computed while it is written (for the lock file). */
	const hashes = new Map<string, string>(options.done);
	const chunk = options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
	const byName = new Map(options.tensors.map((t) => [t.name, t]));
	const bytesTotal = options.shards.reduce((sum, s) => sum + s.dataBytes, 0);
	const scratch: Scratch = { input: new Uint8Array(chunk * 4), floats: new Float32Array(chunk) };
	const skipped = options.shards.filter((s) => hashes.has(s.fileName));
	let bytesDone = skipped.reduce((sum, s) => sum + s.dataBytes, 0);
	let tensorsDone = skipped.reduce((sum, s) => sum + s.tensors.length, 0);
	const report = (tensor: string) =>
		options.onProgress?.({ bytesDone, bytesTotal, tensorsDone, tensorsTotal: options.tensors.length, tensor });

	for (const shard of options.shards) {
		if (options.done?.has(shard.fileName)) continue;
		const writer = await ShardWriter.create(options.dir, shard, undefined, { sha256: true, buffers: options.tap?.stagingBuffers });
		try {
			for (const { spec } of shard.tensors) {
				const tensor = byName.get(spec.name);
				if (!tensor) throw new Error(`shard plan names ${spec.name}, which is not in the tensor plan`);
				const sink = options.tap ? tapped(writer, tensor.name, options.tap) : writer;
				const before = writer.bytesWritten;
				const progressed = (n: number) => {
					options.signal?.throwIfAborted();
					bytesDone += n;
					report(tensor.name);
				};
				if (tensor.concat === "columns") await streamColumns(tensor, sink, options, scratch, progressed);
				else for (const part of tensor.parts) await streamPart(part, tensor.dtype, sink, options, scratch, progressed);
				const want = tensor.shape.reduce((a, b) => a * b, 1) * dtypeBytes(tensor.dtype);
				if (writer.bytesWritten - before !== want) throw new Error(`${tensor.name}: parts produced ${writer.bytesWritten - before} bytes, shape needs ${want}`);
				tensorsDone++;
			}
			await writer.finish();
			hashes.set(shard.fileName, writer.sha256 as string);
			await options.onShardWritten?.(shard, writer.sha256 as string);
		} catch (error) {
			await writer.abort().catch(() => {});
			throw error;
		}
	}
	report("");
	return hashes;
}

/** Writes the output bytes of one part into the shard, in place where possible. */
async function streamPart(
	part: TensorPart,
	dtype: DType,
	writer: TensorSink,
	options: WriteShardsOptions,
	scratch: Scratch,
	progressed: (bytes: number) => void,
): Promise<void> {
	if (part.kind === "values" || part.kind === "pending") {
		const values = part.kind === "values" ? part.values : await part.values();
		if (part.kind === "pending" && values.length !== part.length) throw new Error(`${part.label}: ${values.length} values computed, ${part.length} planned`);
		await writeFloats(values, dtype, writer, scratch, progressed);
		return;
	}
	const { target, put } = writeTargets(dtype, writer, scratch, progressed);
	const { file, info } = options.sources[part.source].get(part.name);
	const inBytes = dtypeBytes(info.dtype);
	const { first, count } = partElements(part, info.shape);
	const rng = part.noise ? new SeededRandom(options.seed, part.noise.key) : undefined;
	if (part.scale === undefined && !rng && info.dtype === dtype) {
		// Same dtype, no transform: read the source bytes straight into the output buffer.
		const total = count * inBytes;
		for (let offset = 0; offset < total; ) {
			const view = writer.reserve(total - offset);
			await file.read(info, first * inBytes + offset, view.length, view);
			await writer.commit(view.length);
			progressed(view.length);
			offset += view.length;
		}
		return;
	}
	const scale = part.scale ?? 1;
	const std = part.noise?.std ?? 0;
	for (let start = 0; start < count; ) {
		const t = target(count - start);
		const input = scratch.input.subarray(0, t.n * inBytes);
		await file.read(info, (first + start) * inBytes, input.length, input);
		if (part.scale === undefined && !rng) {
			convertDtype(input, info.dtype, t.view, dtype, t.n);
		} else {
			const floats = toFloat32(input, info.dtype, t.n, scratch.floats.subarray(0, t.n));
			// mergekit-moe's order: noise first, then residual_scale.
			for (let i = 0; i < t.n; i++) floats[i] = (floats[i] + (rng ? rng.normal() * std : 0)) * scale;
			fromFloat32(floats, dtype, t.view);
		}
		await put(t);
		start += t.n;
	}
}

/** The elements of a copy part's source it takes: all, or its rows of the source seen as 2-D. */
export function partElements(part: Extract<TensorPart, { kind: "copy" }>, shape: readonly number[]): { first: number; count: number } {
	const total = shape.reduce((a, b) => a * b, 1);
	if (!part.rows) return { first: 0, count: total };
	const cols = shape[shape.length - 1] ?? 1;
	const { first, count } = part.rows;
	if (first < 0 || count < 0 || (first + count) * cols > total) throw new Error(`${part.name}: rows ${first}..${first + count} are outside its shape [${shape}]`);
	return { first: first * cols, count: count * cols };
}

/** Views into the writer's staging buffer for up to `count` output elements, and how to commit them. */
function writeTargets(dtype: DType, writer: TensorSink, scratch: Scratch, progressed: (bytes: number) => void) {
	const outBytes = dtypeBytes(dtype);
	const maxElements = scratch.floats.length;
	/** At a staging-buffer boundary a view can hold less than one element: then one element is produced by copy. */
	const target = (count: number): { view: Uint8Array; n: number; spill: boolean } => {
		const view = writer.reserve(Math.min(count, maxElements) * outBytes);
		const n = Math.floor(view.length / outBytes);
		if (n > 0) return { view: view.subarray(0, n * outBytes), n, spill: false };
		return { view: new Uint8Array(outBytes), n: 1, spill: true };
	};
	const put = async (t: { view: Uint8Array; spill: boolean }) => {
		if (t.spill) await writer.write(t.view);
		else await writer.commit(t.view.length);
		progressed(t.view.length);
	};
	return { target, put };
}

/** Converts float32 values to `dtype` straight into the shard. */
async function writeFloats(values: Float32Array, dtype: DType, writer: TensorSink, scratch: Scratch, progressed: (bytes: number) => void): Promise<void> {
	const { target, put } = writeTargets(dtype, writer, scratch, progressed);
	for (let start = 0; start < values.length; ) {
		const t = target(values.length - start);
		fromFloat32(values.subarray(start, start + t.n), dtype, t.view);
		await put(t);
		start += t.n;
	}
}

/**
 * A tensor whose 2-D copy parts sit side by side (stacked shared experts' down_proj [H, N·I]): blocks
 * of rows of every part are read and transformed in each part's own row-major order (so noise is the
 * same stream as for the part alone), then written row by row, part after part.
 */
async function streamColumns(tensor: PlannedTensor, writer: TensorSink, options: WriteShardsOptions, scratch: Scratch, progressed: (bytes: number) => void): Promise<void> {
	const [rows, cols] = tensor.shape;
	const parts = tensor.parts.map((part) => {
		if (part.kind !== "copy") throw new Error(`${tensor.name}: column parts must be copies`);
		const { file, info } = options.sources[part.source].get(part.name);
		const width = info.shape[info.shape.length - 1];
		const { first, count } = partElements(part, info.shape);
		if ((!part.rows && info.shape.length !== 2) || count !== rows * width) throw new Error(`${tensor.name}: part ${part.name} has shape [${info.shape}]${part.rows ? ` (rows ${part.rows.first}+${part.rows.count})` : ""}, expected ${rows} rows`);
		return { part, file, info, width, first, rng: part.noise ? new SeededRandom(options.seed, part.noise.key) : undefined };
	});
	if (parts.reduce((sum, p) => sum + p.width, 0) !== cols) throw new Error(`${tensor.name}: parts have ${parts.map((p) => p.width).join(" + ")} columns, shape needs ${cols}`);
	const blockRows = Math.max(1, Math.floor(Math.min(scratch.floats.length, scratch.input.length / 4) / cols));
	const block = blockRows * cols <= scratch.floats.length ? scratch.floats : new Float32Array(blockRows * cols);
	for (let row = 0; row < rows; row += blockRows) {
		const n = Math.min(blockRows, rows - row);
		let offset = 0;
		const regions = [];
		for (const { part, file, info, width, first, rng } of parts) {
			const inBytes = dtypeBytes(info.dtype);
			const input = n * width * inBytes <= scratch.input.length ? scratch.input.subarray(0, n * width * inBytes) : new Uint8Array(n * width * inBytes);
			await file.read(info, (first + row * width) * inBytes, input.length, input);
			const floats = toFloat32(input, info.dtype, n * width, block.subarray(offset, offset + n * width));
			const scale = part.scale ?? 1;
			const std = part.noise?.std ?? 0;
			// mergekit-moe's order: noise first, then residual_scale.
			if (rng || scale !== 1) for (let i = 0; i < floats.length; i++) floats[i] = (floats[i] + (rng ? rng.normal() * std : 0)) * scale;
			regions.push({ floats, width });
			offset += n * width;
		}
		for (let r = 0; r < n; r++) {
			for (const { floats, width } of regions) await writeFloats(floats.subarray(r * width, (r + 1) * width), tensor.dtype, writer, scratch, progressed);
		}
	}
}
