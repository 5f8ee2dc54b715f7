/**
 * Which tensors a dense model extracted from an MoE has and where each one's bytes are: the MoE read as
 * a dense model whose MLP is expert N (src/model/moe-as-dense.ts: every tensor outside the MoE blocks,
 * and expert N's projections in either layout), each tensor copied as it is. With `sharedExpert`, the
 * ungated shared expert is added as a residual by widening the MLP: gate and up rows stacked, down
 * columns side by side.
 */
import { MLP_PROJECTIONS } from "../architectures/expert-tensors.js";
import { gatesSharedExperts, type MlpProjection } from "../architectures/output-architecture.js";
import { ModelError } from "../errors.js";
import { LLAMA_LIKE_NAMES } from "../inputs/input-families.js";
import { checkExpertIndex } from "../model/moe-as-dense.js";
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
	checkExpertIndex(spec, options.expert, label);
	if (!options.sharedExpert) return;
	if (!spec.sharedIntermediate) throw new ModelError(`${label}: this ${spec.arch.displayName} has no shared expert to add`);
	if (gatesSharedExperts(spec.arch)) {
		throw new ModelError(
			`${label}: ${spec.arch.displayName}'s shared expert is scaled by sigmoid(gate · x), a per-token factor no dense MLP can express, so adding it would not be exact`,
			{ hint: "extract without --shared-expert (the routed expert's MLP alone)" },
		);
	}
}

/**
 * The dense model's tensors; `intermediate` is the dense MLP's width (the expert's, plus the shared
 * expert's when added). Parts read source 0 = `view` (the MoE as a dense model) and source 1 = `weights`
 * (the MoE itself, for the shared expert).
 */
export function planExtractTensors(spec: MoeSpec, view: ModelWeights, weights: ModelWeights, options: ExtractTensorOptions): { tensors: PlannedTensor[]; intermediate: number } {
	const shared = options.sharedExpert ? spec.sharedIntermediate ?? 0 : 0;
	const intermediate = spec.expertIntermediate + shared;
	const H = spec.dense.hidden;
	const tensors = view.names().map((name): PlannedTensor => {
		const { info } = view.get(name);
		const tensor: PlannedTensor = { name, dtype: info.dtype, shape: [...info.shape], parts: [{ kind: "copy", source: 0, name }] };
		const layer = LLAMA_LIKE_NAMES.layerOf(name);
		const p = MLP_PROJECTIONS.find((q) => layer !== undefined && LLAMA_LIKE_NAMES.mlp(layer, q) === name);
		if (shared === 0 || layer === undefined || !p) return tensor;
		const down = p === "down_proj";
		tensor.parts.push(sharedPart(spec, weights, layer, p, shared));
		tensor.shape = down ? [H, intermediate] : [intermediate, H];
		if (down) tensor.concat = "columns";
		return tensor;
	});
	return { tensors, intermediate };
}

function sharedPart(spec: MoeSpec, weights: ModelWeights, l: number, p: MlpProjection, shared: number): TensorPart {
	const name = spec.arch.sharedExpertNames!.projection(l, p);
	const { info } = weights.get(name);
	const want = p === "down_proj" ? [spec.dense.hidden, shared] : [shared, spec.dense.hidden];
	if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
		throw new ModelError(`${weights.dir}: ${name} has shape [${info.shape}], the config says [${want}]`, { file: weights.dir });
	}
	return { kind: "copy", source: 1, name };
}
