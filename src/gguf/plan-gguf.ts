/**
 * The GGUF tensor table of a checkpoint, planned from its safetensors headers and its architecture's
 * GGUF description before anything is written: each GGUF tensor's name, shape and type, and the source
 * byte ranges it is made of (one HF tensor; one slice per expert for a stacked tensor; an expert's half
 * of a fused gate_up_proj; or computed values). Every problem (a tensor with no GGUF name, a missing
 * expert, a dtype that cannot be converted) is found here.
 */
import { ModelError } from "../errors.js";
import { type DType, dtypeBytes } from "../safetensors/dtype.js";
import type { TensorLocation, TensorReader } from "../safetensors/model-weights.js";
import type { GgufArchitecture, GgufNameRule } from "./architecture.js";
import type { GgufTensorSpec } from "./layout.js";
import { GGUF_TENSOR_TYPES, type GgufTensorType } from "./tensor-types.js";

type Json = Record<string, unknown>;

/** Rows [firstRow, firstRow + rows) of a source tensor (rows of `cols` values). */
export interface SourceSlice {
	kind: "source";
	location: TensorLocation;
	firstRow: number;
	rows: number;
	cols: number;
}

export interface ComputedPart {
	kind: "values";
	values: Float32Array;
}

export interface PlannedGgufTensor extends GgufTensorSpec {
	parts: (SourceSlice | ComputedPart)[];
	/** Rows of each part are permuted for llama.cpp's rope, in groups of this many heads. */
	permuteHeads?: number;
	/** The same source bytes as this tensor (a tied model's `output.weight`, the embeddings again): placed right after it. */
	copyOf?: string;
}

/**
 * The safetensors tensors a GGUF file is planned from: an open folder (ModelWeights), or the shards a
 * merge is about to write. `shards()` gives the files in stream order (the order their bytes are written).
 */
export interface GgufSourceTensors {
	names(): string[];
	get(name: string): TensorLocation;
	shards(): readonly TensorReader[];
}

const CONVERTIBLE: readonly DType[] = ["F32", "F16", "BF16"];
/** Tensors the converter drops. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;
/** Tensors the converter keeps in F32 whatever the file type: routers (and norms, 1-D tensors, biases). */
const ALWAYS_F32 = /\.(ffn_gate_inp|ffn_gate_inp_shexp)\.weight$/;

/** The type a tensor gets in a file of `fileType`, by the converter's rule (Q8_0 rows not of whole blocks fall back to F16). */
export function tensorTypeFor(name: string, shape: readonly number[], fileType: GgufTensorType): GgufTensorType {
	if (shape.length <= 1 || name.endsWith("_norm.weight") || !name.endsWith(".weight") || ALWAYS_F32.test(name)) return GGUF_TENSOR_TYPES.f32;
	if (shape[shape.length - 1]! % fileType.blockSize !== 0) return GGUF_TENSOR_TYPES.f16;
	return fileType;
}

interface Matched {
	rule: GgufNameRule;
	layer?: number;
	expert?: number;
	suffix?: string;
	location: TensorLocation;
}

function fill(template: string, m: Matched): string {
	return template.replace("{L}", String(m.layer)).replace("{S}", m.suffix ?? "weight");
}

/**
 * The GGUF tensors of a checkpoint, in the order their source bytes come in the safetensors files
 * (file after file, tensor after tensor; a stacked tensor where its expert 0 is): the order a merge
 * streams them, so that it writes the GGUF file front to back from its own stream. Computed tensors
 * come first, a tied model's copied `output.weight` right after the embeddings (a merge holds the
 * embeddings' encoded bytes only while they stream by, not until the end of the file).
 */
export function planGgufTensors(dir: string, weights: GgufSourceTensors, config: Json, gguf: GgufArchitecture, fileType: GgufTensorType): PlannedGgufTensor[] {
	const matched: Matched[] = [];
	const unnamed: string[] = [];
	for (const name of weights.names()) {
		if (IGNORED.test(name)) continue;
		const location = weights.get(name);
		if (!CONVERTIBLE.includes(location.info.dtype)) {
			throw new ModelError(`${location.file.path}: tensor ${name} is ${location.info.dtype}; GGUF conversion reads F32, F16 and BF16 only`, { file: location.file.path });
		}
		const rule = gguf.names.find((r) => r.hf.test(name));
		if (!rule) {
			unnamed.push(name);
			continue;
		}
		const groups = rule.hf.exec(name)!.groups ?? {};
		matched.push({
			rule,
			location,
			layer: groups.layer === undefined ? undefined : Number(groups.layer),
			expert: groups.expert === undefined ? undefined : Number(groups.expert),
			suffix: groups.suffix,
		});
	}
	if (unnamed.length > 0) {
		throw new ModelError(
			`${dir}: ${unnamed.length} tensor(s) have no name in llama.cpp's ${gguf.arch} architecture (${unnamed.slice(0, 3).join(", ")}${unnamed.length > 3 ? ", …" : ""})`,
			{ file: dir },
		);
	}
	const heads = config.num_attention_heads as number;
	const kvHeads = (config.num_key_value_heads as number | undefined) ?? heads;
	const planned: PlannedGgufTensor[] = [];
	const experts = new Map<string, Matched[]>();
	for (const m of matched) {
		const shape = m.location.info.shape;
		const cols = shape[shape.length - 1] ?? 1;
		const rows = shape.length <= 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
		const name = fill(m.rule.gguf, m);
		if (m.rule.kind === "expert") {
			experts.set(name, [...(experts.get(name) ?? []), m]);
		} else if (m.rule.kind === "fused-gate-up") {
			const [e, twoI, h] = shape as [number, number, number];
			const half = twoI / 2;
			for (const [target, offset] of [[name, 0], [fill(m.rule.upGguf!, m), half]] as const) {
				const parts: SourceSlice[] = [];
				for (let x = 0; x < e; x++) parts.push({ kind: "source", location: m.location, firstRow: x * twoI + offset, rows: half, cols: h });
				planned.push(spec(target, [e, half, h], parts, fileType));
			}
		} else {
			const permute = gguf.permuteQK && /\.attn_q\./.test(name) ? heads : gguf.permuteQK && /\.attn_k\./.test(name) ? kvHeads : undefined;
			planned.push({ ...spec(name, shape, [{ kind: "source", location: m.location, firstRow: 0, rows, cols }], fileType), permuteHeads: permute });
		}
	}
	for (const [name, members] of experts) {
		members.sort((a, b) => a.expert! - b.expert!);
		const shape = members[0]!.location.info.shape;
		members.forEach((m, i) => {
			if (m.expert !== i) throw new ModelError(`${dir}: ${name}: expert ${i} is missing (the experts found are ${members.map((x) => x.expert).join(", ")})`, { file: dir });
			if (m.location.info.shape.join() !== shape.join()) throw new ModelError(`${dir}: ${m.location.info.name} has shape [${m.location.info.shape}], expert 0 [${shape}]`, { file: dir });
		});
		const parts: SourceSlice[] = members.map((m) => ({ kind: "source", location: m.location, firstRow: 0, rows: shape[0]!, cols: shape[1]! }));
		planned.push(spec(name, [members.length, ...shape], parts, fileType));
	}
	const embeddings = planned.find((t) => t.name === "token_embd.weight");
	if (gguf.untiedOutput && embeddings && !planned.some((t) => t.name === "output.weight")) {
		planned.push({ ...embeddings, name: "output.weight", type: tensorTypeFor("output.weight", embeddings.shape, fileType), copyOf: embeddings.name });
	}
	for (const extra of gguf.extraTensors?.(config) ?? []) {
		planned.push({ name: extra.name, shape: [extra.values.length], type: GGUF_TENSOR_TYPES.f32, parts: [{ kind: "values", values: extra.values }] });
	}
	const files = weights.shards();
	/** [file, byte offset, copy] of a tensor's first source bytes (computed: before the first file; a copy: after the tensor it copies). */
	const position = (t: PlannedGgufTensor): [number, number, number] => {
		const first = t.parts[0];
		if (!first || first.kind === "values") return [-1, 0, 0];
		const file = files.indexOf(first.location.file);
		return [file < 0 ? files.length : file, first.location.info.begin + first.firstRow * sourceRowBytes(first), t.copyOf === undefined ? 0 : 1];
	};
	const positions = new Map(planned.map((t) => [t, position(t)]));
	return planned.sort((a, b) => {
		const [pa, pb] = [positions.get(a)!, positions.get(b)!];
		return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2] || a.name.localeCompare(b.name);
	});
}

function spec(name: string, shape: readonly number[], parts: SourceSlice[], fileType: GgufTensorType): PlannedGgufTensor {
	return { name, shape, type: tensorTypeFor(name, shape, fileType), parts };
}

/** Bytes of one row of a source slice. */
export function sourceRowBytes(slice: SourceSlice): number {
	return slice.cols * dtypeBytes(slice.location.info.dtype);
}
