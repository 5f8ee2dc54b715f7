/**
 * Which tensors a dense model extracted from an MoE has and where each one's bytes are: every tensor
 * outside the MoE blocks copied as it is (embeddings, attention, norms, head), and in each layer expert
 * N's three projections as the dense MLP, read through the architecture's description in either expert
 * layout (a fused stack gives the expert's rows). With `sharedExpert`, the ungated shared expert is
 * added as a residual by widening the MLP: gate and up rows stacked, down columns side by side.
 */
import { MLP_PROJECTIONS, expertTensor } from "../architectures/expert-tensors.js";
import { gatesSharedExperts, type MlpProjection } from "../architectures/output-architecture.js";
import { ModelError } from "../errors.js";
import { LLAMA_LIKE_NAMES } from "../inputs/input-families.js";
import { layoutOf } from "../model/expert-weights.js";
import type { MoeSpec } from "../model/moe-spec.js";
import type { PlannedTensor, TensorPart } from "../plan/tensor-plan.js";
import type { ModelWeights } from "../safetensors/index.js";

export interface ExtractTensorOptions {
	expert: number;
	/** Add the shared expert's MLP to the expert's (exact only for ungated shared experts). */
	sharedExpert?: boolean;
}

/** The expert index checked against the MoE, and the shared-expert request against its architecture. */
export function checkExtractRequest(spec: MoeSpec, options: ExtractTensorOptions, label: string): void {
	const { expert } = options;
	if (!Number.isSafeInteger(expert) || expert < 0 || expert >= spec.experts) {
		throw new ModelError(`${label}: there is no expert ${expert}; this ${spec.arch.displayName} has experts 0 to ${spec.experts - 1}`, { hint: `pass --expert 0 to ${spec.experts - 1}` });
	}
	const dense = spec.sparse.flatMap((sparse, l) => (sparse ? [] : [l]));
	if (dense.length > 0) {
		throw new ModelError(
			`${label}: layer${dense.length > 1 ? "s" : ""} ${dense.join(", ")} of this ${spec.arch.displayName} ${dense.length > 1 ? "are" : "is"} dense (a plain MLP, no experts), so expert ${expert} exists only in the other layers`,
			{ hint: "a dense model needs expert N in every layer (first_k_dense_replace / mlp_only_layers make layers dense); extract is refused rather than mixing the layers' own MLPs in" },
		);
	}
	if (!options.sharedExpert) return;
	if (!spec.sharedIntermediate) throw new ModelError(`${label}: this ${spec.arch.displayName} has no shared expert to add`);
	if (gatesSharedExperts(spec.arch)) {
		throw new ModelError(
			`${label}: ${spec.arch.displayName}'s shared expert is scaled by sigmoid(gate · x), a per-token factor no dense MLP can express, so adding it would not be exact`,
			{ hint: "extract without --shared-expert (the routed expert's MLP alone)" },
		);
	}
}

/** The dense model's tensors; `intermediate` is the dense MLP's width (the expert's, plus the shared expert's when added). */
export function planExtractTensors(spec: MoeSpec, weights: ModelWeights, options: ExtractTensorOptions): { tensors: PlannedTensor[]; intermediate: number } {
	const shared = options.sharedExpert ? spec.sharedIntermediate ?? 0 : 0;
	const intermediate = spec.expertIntermediate + shared;
	const blockNames = spec.sparse.map((_, l) => moeBlockNames(spec, weights, l));
	const emitted = new Set<number>();
	const tensors: PlannedTensor[] = [];
	for (const name of weights.names()) {
		const layer = LLAMA_LIKE_NAMES.layerOf(name);
		if (layer !== undefined && blockNames[layer]?.has(name)) {
			if (!emitted.has(layer)) tensors.push(...layerMlp(spec, weights, layer, options.expert, shared));
			emitted.add(layer);
			continue;
		}
		if (LLAMA_LIKE_NAMES.isMlpTensor(name) || name.includes(".block_sparse_moe.")) {
			throw new ModelError(`${weights.dir}: tensor ${name} belongs to layer ${layer}'s MoE block but is not one ${spec.arch.displayName} describes; extract cannot tell what it does`, { file: weights.dir });
		}
		const { info } = weights.get(name);
		tensors.push({ name, dtype: info.dtype, shape: [...info.shape], parts: [{ kind: "copy", source: 0, name }] });
	}
	return { tensors, intermediate };
}

/** Every tensor name of layer l's MoE block (router, experts, shared expert and its gate) in the layout the layer has. */
function moeBlockNames(spec: MoeSpec, weights: ModelWeights, l: number): Set<string> {
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

/** Layer l's dense MLP: expert `expert`'s projections, with the shared expert's beside them when `shared` > 0. */
function layerMlp(spec: MoeSpec, weights: ModelWeights, l: number, expert: number, shared: number): PlannedTensor[] {
	const { arch } = spec;
	const H = spec.dense.hidden;
	const I = spec.expertIntermediate;
	const layout = layoutOf(weights, arch, l);
	return MLP_PROJECTIONS.map((p) => {
		const down = p === "down_proj";
		const where = expertTensor(arch, layout, l, expert, p, { intermediate: I, hidden: H });
		const { info } = weights.get(where.name);
		const slab = down ? [H, I] : where.fused ? [2 * I, H] : [I, H];
		const want = where.fused ? [spec.experts, ...slab] : slab;
		if (info.shape.length !== want.length || info.shape.some((d, i) => d !== want[i])) {
			throw new ModelError(`${weights.dir}: ${where.name} has shape [${info.shape}], the config says [${want}]`, { file: weights.dir });
		}
		const part: TensorPart = where.fused
			? { kind: "copy", source: 0, name: where.name, rows: { first: where.fused.expert * slab[0]! + where.fused.firstRow, count: where.fused.rows } }
			: { kind: "copy", source: 0, name: where.name };
		const parts: TensorPart[] = [part];
		if (shared > 0) parts.push(sharedPart(spec, weights, l, p, shared));
		return {
			name: LLAMA_LIKE_NAMES.mlp(l, p),
			dtype: info.dtype,
			shape: down ? [H, I + shared] : [I + shared, H],
			parts,
			...(down && shared > 0 && { concat: "columns" as const }),
		};
	});
}

function sharedPart(spec: MoeSpec, weights: ModelWeights, l: number, p: MlpProjection, shared: number): TensorPart {
	const name = spec.arch.sharedExpertNames!.projection(l, p);
	const { info } = weights.get(name);
	const want = p === "down_proj" ? [spec.dense.hidden, shared] : [shared, spec.dense.hidden];
	if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
		throw new ModelError(`${weights.dir}: ${name} has shape [${info.shape}], the config says [${want}]`, { file: weights.dir });
	}
	return { kind: "copy", source: 0, name };
}
