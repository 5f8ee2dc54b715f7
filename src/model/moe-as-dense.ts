/**
 * An MoE checkpoint read as a dense model (a recipe source with `expert: N`, `moe-merge extract`):
 * every tensor outside the MoE blocks under its own name (embeddings, attention, norms, head), and in
 * each layer expert N's three projections under the dense MLP names. In transformers 5's fused layout an
 * expert's projection is a contiguous run of rows of the [E, rows, cols] stack, so it is given as a
 * tensor of its own over those bytes: every reader (tensor plan, writer, forward pass) sees a plain
 * dense checkpoint and copies the bytes unchanged. A merge's view also holds each layer's router
 * (viewRouterName), whose row N it keeps for that expert, and shared expert (viewSharedName).
 */
import { MLP_PROJECTIONS, expertTensor } from "../architectures/expert-tensors.js";
import { ModelError } from "../errors.js";
import { type DenseConfig, normaliseDenseConfig } from "../inputs/dense-config.js";
import { LLAMA_LIKE_NAMES } from "../inputs/input-families.js";
import { type ModelWeights, type TensorLocation, dtypeBytes } from "../safetensors/index.js";
import { denseConfigOfMoe } from "./dense-config-of-moe.js";
import { layoutOf } from "./expert-weights.js";
import type { MoeSpec } from "./moe-spec.js";

/** The dense config of an MoE read with one routed expert as its MLP (the family extract writes). */
export function denseConfigOfMoeExpert(spec: MoeSpec, raw: Record<string, unknown>, file: string): DenseConfig {
	return normaliseDenseConfig(denseConfigOfMoe(spec.arch, raw, file, spec.expertIntermediate).config, file);
}

/** Refuses an expert index the MoE does not have, and MoEs with dense layers (no expert N there). */
export function checkExpertIndex(spec: MoeSpec, expert: number, label: string): void {
	if (!Number.isSafeInteger(expert) || expert < 0 || expert >= spec.experts) {
		throw new ModelError(`${label}: there is no expert ${expert}; this ${spec.arch.displayName} has experts 0 to ${spec.experts - 1}`, { hint: `use an expert index from 0 to ${spec.experts - 1}` });
	}
	const dense = spec.sparse.flatMap((sparse, l) => (sparse ? [] : [l]));
	if (dense.length > 0) {
		throw new ModelError(
			`${label}: layer${dense.length > 1 ? "s" : ""} ${dense.join(", ")} of this ${spec.arch.displayName} ${dense.length > 1 ? "are" : "is"} dense (a plain MLP, no experts), so expert ${expert} exists only in the other layers`,
			{ hint: "a dense model needs expert N in every layer (first_k_dense_replace / mlp_only_layers make layers dense); it is refused rather than mixing the layers' own MLPs in" },
		);
	}
}

/**
 * `weights` (an MoE of `spec`) as a dense model whose MLP is expert `expert` (none when undefined: the
 * attention path alone, e.g. a base model); `moeParts`: with each layer's router (viewRouterName) and shared
 * expert with its gate (viewSharedName), which a merge keeps. The result owns the files: close it instead of `weights`.
 */
export function denseViewOfMoe(spec: MoeSpec, weights: ModelWeights, expert: number | undefined, options: { moeParts?: boolean } = {}): ModelWeights {
	const blockNames = spec.sparse.map((_, l) => moeBlockNames(spec, weights, l));
	const table = new Map<string, TensorLocation>();
	for (const name of weights.names()) {
		const layer = LLAMA_LIKE_NAMES.layerOf(name);
		if (layer !== undefined && blockNames[layer]?.has(name)) continue;
		if (LLAMA_LIKE_NAMES.isMlpTensor(name) || name.includes(".block_sparse_moe.")) {
			throw new ModelError(`${weights.dir}: tensor ${name} belongs to layer ${layer}'s MoE block but is not one ${spec.arch.displayName} describes; its role is unknown`, { file: weights.dir });
		}
		table.set(name, weights.get(name));
	}
	if (expert !== undefined) {
		for (let l = 0; l < spec.sparse.length; l++) {
			for (const p of MLP_PROJECTIONS) table.set(LLAMA_LIKE_NAMES.mlp(l, p), expertProjection(spec, weights, l, expert, p));
			if (options.moeParts) table.set(viewRouterName(l), weights.get(spec.arch.routerName(l, layoutOf(weights, spec.arch, l))));
		}
	}
	if (options.moeParts && spec.sharedIntermediate && spec.arch.sharedExpertNames) {
		const names = spec.arch.sharedExpertNames;
		for (let l = 0; l < spec.sparse.length; l++) {
			for (const p of MLP_PROJECTIONS) table.set(viewSharedName(l, p), weights.get(names.projection(l, p)));
			const gate = names.gate?.(l);
			if (gate) table.set(viewSharedName(l, "gate"), weights.get(gate));
		}
	}
	return weights.withTable(table);
}

/** The names a merge's view gives layer l's shared expert projections and its gate (`gate`), kept from a base MoE. */
export function viewSharedName(l: number, part: (typeof MLP_PROJECTIONS)[number] | "gate"): string {
	return `model.layers.${l}.mlp.moe_shared.${part}.weight`;
}

/**
 * The name a dense view with an expert gives layer l's whole router [E, H] (the expert's row is row N
 * of it): what a merge copies a kept router row from. No dense model has a tensor of that name; under
 * `mlp.`, it is never copied as a base tensor.
 */
export function viewRouterName(l: number): string {
	return `model.layers.${l}.mlp.moe_router.weight`;
}

/** Every tensor name of layer l's MoE block (router, experts, shared expert and its gate) in the layout the layer has. */
export function moeBlockNames(spec: MoeSpec, weights: ModelWeights, l: number): Set<string> {
	const { arch } = spec;
	const layout = layoutOf(weights, arch, l);
	const names = new Set([arch.routerName(l, layout)]);
	const sizes = { intermediate: spec.expertIntermediate, hidden: spec.dense.hidden };
	for (let e = 0; e < spec.experts; e++) for (const p of MLP_PROJECTIONS) names.add(expertTensor(arch, layout, l, e, p, sizes).name);
	for (const p of MLP_PROJECTIONS) if (arch.sharedExpertNames) names.add(arch.sharedExpertNames.projection(l, p));
	const gate = arch.sharedExpertNames?.gate?.(l);
	if (gate) names.add(gate);
	return new Set([...names].filter((n) => weights.has(n)));
}

/** Expert `expert`'s projection `p` of layer l as a tensor of its own (a fused stack's rows are a byte range of it). */
function expertProjection(spec: MoeSpec, weights: ModelWeights, l: number, expert: number, p: (typeof MLP_PROJECTIONS)[number]): TensorLocation {
	const H = spec.dense.hidden;
	const I = spec.expertIntermediate;
	const where = expertTensor(spec.arch, layoutOf(weights, spec.arch, l), l, expert, p, { intermediate: I, hidden: H });
	const location = weights.get(where.name);
	const { info } = location;
	const down = p === "down_proj";
	const slab = down ? [H, I] : where.fused ? [2 * I, H] : [I, H];
	const want = where.fused ? [spec.experts, ...slab] : slab;
	if (info.shape.length !== want.length || info.shape.some((d, i) => d !== want[i])) {
		throw new ModelError(`${weights.dir}: ${where.name} has shape [${info.shape}], the config says [${want}]`, { file: weights.dir });
	}
	if (!where.fused) return location;
	const cols = slab[1]!;
	const rowBytes = cols * dtypeBytes(info.dtype);
	const begin = info.begin + (where.fused.expert * slab[0]! + where.fused.firstRow) * rowBytes;
	return { file: location.file, info: { name: where.name, dtype: info.dtype, shape: [where.fused.rows, cols], begin, end: begin + where.fused.rows * rowBytes } };
}
