/**
 * Every change a list of adapters makes to a checkpoint, per checkpoint tensor, in the order the adapters
 * are applied: low-rank deltas scale·B·A on row ranges (DoRA: with the magnitude of each row), and whole
 * tensors that replace the model's (modules_to_save). Every module of every adapter must land on a
 * tensor of the right shape; otherwise nothing is written and the error names the adapter and the tensor.
 */
import type { TensorInfo } from "../safetensors/index.js";
import { loraScale } from "./adapter-config.js";
import { type LoraAdapter, type LoraFactors, adapterError, readFloats } from "./adapter-files.js";
import type { CheckpointRows, RowSpace } from "./row-spaces.js";

/** W[rowStart .. rowStart+rows) += scale · b[rows, r] · a[r, cols]; with `magnitude`, then DoRA's row rescaling. */
export interface DeltaEdit {
	kind: "delta";
	adapter: number;
	/** Rows of the checkpoint tensor (a 3-D one seen as [E·d1, d2]). */
	rowStart: number;
	rows: number;
	cols: number;
	rank: number;
	scale: number;
	b: Float32Array;
	a: Float32Array;
	magnitude?: Float32Array;
	/** For messages: the adapter module. */
	label: string;
}

export interface ReplaceEdit {
	kind: "replace";
	adapter: number;
	info: TensorInfo;
	label: string;
}

export type TensorEdit = DeltaEdit | ReplaceEdit;


/** Maps every adapter's modules onto the checkpoint and reads their factors (float32). */
export async function planEdits(adapters: readonly LoraAdapter[], checkpoint: CheckpointRows, tiedHead: boolean): Promise<Map<string, TensorEdit[]>> {
	const edits = new Map<string, TensorEdit[]>();
	const add = (tensor: string, edit: TensorEdit) => {
		const list = edits.get(tensor) ?? [];
		list.push(edit);
		edits.set(tensor, list);
	};
	for (const [index, adapter] of adapters.entries()) {
		for (const [name, info] of adapter.replacements) {
			const shape = checkpoint.shapes.get(name);
			if (!shape) throw missing(adapter, name, tiedHead);
			if (shape.join() !== info.shape.join()) throw adapterError(adapter.name, `${info.name} has shape [${info.shape}], the model's ${name} is [${shape}]`);
			add(name, { kind: "replace", adapter: index, info, label: info.name });
		}
		for (const factors of adapter.factors) {
			for (const { tensor, edit } of await factorEdits(adapter, factors, checkpoint, tiedHead)) add(tensor, { ...edit, adapter: index });
		}
	}
	// Replacements first within an adapter (peft saves a module either whole or as LoRA factors, not both).
	for (const list of edits.values()) list.sort((x, y) => x.adapter - y.adapter || (x.kind === "replace" ? -1 : 0) - (y.kind === "replace" ? -1 : 0));
	return edits;
}

function missing(adapter: LoraAdapter, name: string, tiedHead: boolean): Error {
	const hint = tiedHead && name.startsWith("lm_head") ? "the model ties lm_head to the embeddings (tie_word_embeddings): it has no lm_head tensor of its own" : undefined;
	return adapterError(adapter.name, `changes ${name}, which the model does not have`, hint);
}

async function factorEdits(adapter: LoraAdapter, f: LoraFactors, checkpoint: CheckpointRows, tiedHead: boolean): Promise<{ tensor: string; edit: Omit<DeltaEdit, "adapter"> }[]> {
	const [aRows, aCols] = f.a.shape;
	const [bRows, bCols] = f.b.shape;
	if (f.kind === "embedding") {
		if (f.magnitude) throw adapterError(adapter.name, `${f.module}: DoRA on embeddings is not supported`);
		// peft: delta = (B·A)ᵀ · scale with A [r, vocab], B [hidden, r]: rows = vocab, so b' = Aᵀ, a' = Bᵀ.
		const space = spaceOf(adapter, `${f.module}.weight`, checkpoint, tiedHead);
		if (aRows !== bCols || space.rows !== aCols || space.cols !== bRows) throw shapeError(adapter, f, space, `[${aCols}, ${bRows}]`);
		const { scale } = scaleOf(adapter, f.module, aRows);
		const a = transpose(await readFloats(adapter, f.b), bRows, bCols);
		const b = transpose(await readFloats(adapter, f.a), aRows, aCols);
		return split(space, { kind: "delta", rowStart: 0, rows: space.rows, cols: space.cols, rank: aRows, scale, a, b, label: f.module });
	}
	if (aRows !== bCols) throw adapterError(adapter.name, `${f.module}: lora_A is [${f.a.shape}] and lora_B [${f.b.shape}]: their ranks differ`);
	const param = paramTarget(adapter, f, checkpoint);
	if (!param) {
		const space = spaceOf(adapter, `${f.module}.weight`, checkpoint, tiedHead);
		if (space.rows !== bRows || space.cols !== aCols) throw shapeError(adapter, f, space, `[${bRows}, ${aCols}]`);
		if (f.magnitude && (f.magnitude.shape.join() !== String(bRows))) throw adapterError(adapter.name, `${f.magnitude.name} has shape [${f.magnitude.shape}], expected [${bRows}]`);
		const { scale } = scaleOf(adapter, f.module, aRows);
		const magnitude = f.magnitude ? await readFloats(adapter, f.magnitude) : undefined;
		return split(space, { kind: "delta", rowStart: 0, rows: bRows, cols: aCols, rank: aRows, scale, a: await readFloats(adapter, f.a), b: await readFloats(adapter, f.b), magnitude, label: f.module });
	}
	// peft's ParamWrapper on a 3-D [E, d1, d2] parameter: lora_A [r·E, d2] (expert e: rows e·r ..), lora_B [d1, r·E] (expert e, rank k: column k·E + e).
	const { space } = param;
	if (f.magnitude) throw adapterError(adapter.name, `${f.module}: DoRA on target_parameters is not supported (peft refuses it too)`);
	const experts = space.experts;
	const rank = aRows / experts;
	const { scale } = scaleOf(adapter, space.name, rank);
	const a = await readFloats(adapter, f.a);
	const b = await readFloats(adapter, f.b);
	const out: { tensor: string; edit: Omit<DeltaEdit, "adapter"> }[] = [];
	for (let e = 0; e < experts; e++) {
		const be = new Float32Array(space.rowsPerExpert * rank);
		for (let o = 0; o < space.rowsPerExpert; o++) for (let k = 0; k < rank; k++) be[o * rank + k] = b[o * bCols + k * experts + e];
		const ae = a.slice(e * rank * aCols, (e + 1) * rank * aCols);
		out.push(...split(space, { kind: "delta", rowStart: e * space.rowsPerExpert, rows: space.rowsPerExpert, cols: aCols, rank, scale, a: ae, b: be, label: `${space.name} (expert ${e})` }));
	}
	return out;
}

/** A `target_parameters` factor: the parameter whose shape fits it, or undefined for a module's Linear weight. */
function paramTarget(adapter: LoraAdapter, f: LoraFactors, checkpoint: CheckpointRows): { space: RowSpace } | undefined {
	const keys = adapter.config.targetParameters;
	if (keys.length === 0) return undefined;
	const [aRows, aCols] = f.a.shape;
	const [bRows] = f.b.shape;
	const candidates: RowSpace[] = [];
	for (const key of keys) {
		const param = key.slice(key.lastIndexOf(".") + 1);
		const full = `${f.module}.${param}`;
		if (full !== key && !full.endsWith(`.${key}`)) continue;
		const space = checkpoint.find(full);
		if (space && space.cols === aCols && space.rowsPerExpert === bRows && aRows % space.experts === 0) candidates.push(space);
	}
	if (candidates.length === 0) {
		if (checkpoint.find(`${f.module}.weight`)) return undefined;
		throw adapterError(adapter.name, `${f.module}: no parameter of the model named by target_parameters (${keys.join(", ")}) has the shape of lora_A [${f.a.shape}] and lora_B [${f.b.shape}]`);
	}
	// Several parameters of one module with the same shape: peft nests their wrappers in order (innermost first).
	return { space: candidates[Math.max(0, candidates.length - 1 - f.depth)] };
}

function spaceOf(adapter: LoraAdapter, name: string, checkpoint: CheckpointRows, tiedHead: boolean): RowSpace {
	const space = checkpoint.find(name);
	if (!space) throw missing(adapter, name, tiedHead);
	return space;
}

function shapeError(adapter: LoraAdapter, f: LoraFactors, space: RowSpace, delta: string): Error {
	return adapterError(adapter.name, `${f.module}: lora_A [${f.a.shape}] and lora_B [${f.b.shape}] make a delta of ${delta}, but the model's ${space.name} is [${space.rows}, ${space.cols}]`);
}

function scaleOf(adapter: LoraAdapter, name: string, rank: number): { scale: number } {
	const { r, scale } = loraScale(adapter.config, name);
	if (r !== rank) throw adapterError(adapter.name, `${name}: its factors have rank ${rank}, adapter_config.json says r = ${r}`);
	return { scale };
}

/** The edit cut along the pieces of its row space, onto real tensors. */
function split(space: RowSpace, edit: Omit<DeltaEdit, "adapter">): { tensor: string; edit: Omit<DeltaEdit, "adapter"> }[] {
	const out: { tensor: string; edit: Omit<DeltaEdit, "adapter"> }[] = [];
	for (const piece of space.pieces) {
		const from = Math.max(piece.start, edit.rowStart);
		const to = Math.min(piece.start + piece.rows, edit.rowStart + edit.rows);
		if (from >= to) continue;
		const skip = from - edit.rowStart;
		const rows = to - from;
		out.push({
			tensor: piece.tensor,
			edit: {
				...edit,
				rowStart: piece.tensorRow + (from - piece.start),
				rows,
				b: edit.b.subarray(skip * edit.rank, (skip + rows) * edit.rank),
				magnitude: edit.magnitude?.subarray(skip, skip + rows),
			},
		});
	}
	return out;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
	const t = new Float32Array(m.length);
	for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
	return t;
}

