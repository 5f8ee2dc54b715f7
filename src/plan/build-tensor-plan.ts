import { MLP_PROJECTIONS } from "../architectures/expert-tensors.js";
import type { ExpertLayout, OutputArchitecture } from "../architectures/output-architecture.js";
import type { BiasSite, InputNames, MlpProjection } from "../inputs/input-families.js";
import { ModelError } from "../errors.js";
import type { DType, ModelWeights, TensorInfo } from "../safetensors/index.js";
import type { PlannedTensor, TensorPart } from "./tensor-plan.js";

export interface PlanExpert {
	/** Index into `weights`. */
	source: number;
	noiseScale?: number;
	residualScale?: number;
}

/** Per layer, values ready now, or a function giving them once computed. */
export type LayerValues = Float32Array[] | ((layer: number) => Promise<Float32Array>);

export interface TensorPlanInput {
	architecture: OutputArchitecture;
	/** How the input models name their tensors (the base's family; every input has the same model_type). */
	inputNames: InputNames;
	layout: ExpertLayout;
	dtype: DType;
	/** Open weights of every distinct input model; labels name them in errors. */
	weights: { label: string; weights: ModelWeights }[];
	base: number;
	experts: PlanExpert[];
	/**
	 * The shared experts, written as one MLP (N dense MLPs of size I are exactly one of size N·I: gate/up
	 * rows and down columns stacked), and their gate row [H] per layer when the architecture gates them.
	 */
	sharedExperts?: { experts: PlanExpert[]; gates?: LayerValues };
	numLayers: number;
	hiddenSize: number;
	intermediateSize: number;
	/** Output rows of each attention projection (for the bias vectors an architecture writes as zeros). */
	attentionRows: Record<AttentionBias, number>;
	/** Router rows per layer, [numExperts, hidden] row-major (the rows of experts in `keptRouterRows` are not read). */
	routers: LayerValues;
	/**
	 * A base MoE's shared expert kept as it is: input `source`'s tensors `name(layer, part)` (projections
	 * [width, H] / [H, width], and its gate [1, H] when the architecture gates it).
	 */
	keptSharedExpert?: { source: number; width: number; name: (layer: number, part: MlpProjection | "gate") => string };
	/** Per routed expert, where its router row is kept from (an expert taken from an MoE without prompts); undefined: from `routers`. */
	keptRouterRows?: (KeptRouterRow | undefined)[];
}

/** A router row copied unchanged: row `row` of tensor `name(layer)` [E, hidden] of input `source`. */
export interface KeptRouterRow {
	source: number;
	row: number;
	name: (layer: number) => string;
}

type AttentionBias = Exclude<BiasSite, "mlp">;
/** Tensors of old checkpoints that transformers recomputes and never loads. */
const IGNORED = /\.rotary_emb\.inv_freq$/;

/**
 * Lays out every output tensor in file order (embeddings, then layer by layer, then the final norm
 * and head; values still being computed at the very end) and names the source bytes of each. Every
 * source tensor is looked up and its shape checked here, so a missing or mis-shaped tensor is reported
 * before any byte is written. Names come from the input table and the output description only.
 */
export function buildTensorPlan(input: TensorPlanInput): PlannedTensor[] {
	const { architecture: arch, inputNames: names, layout, dtype, numLayers, hiddenSize: H, intermediateSize: I } = input;
	const base = input.weights[input.base];
	const byLayer: string[][] = Array.from({ length: numLayers }, () => []);
	const head: string[] = [];
	const tail: string[] = [];
	const carried = new Set<BiasSite>(arch.biases.carried);
	const biasesFound = new Set<BiasSite>();
	for (const name of base.weights.names()) {
		if (IGNORED.test(name) || names.isMlpTensor(name)) continue;
		const bias = names.biasSite(name);
		if (bias !== undefined && !carried.has(bias)) {
			throw new ModelError(`${base.label}: tensor ${name} is a bias, which ${arch.displayName} cannot carry`, { file: base.weights.dir });
		}
		if (bias) biasesFound.add(bias);
		const l = names.layerOf(name);
		if (l !== undefined) {
			if (l >= numLayers) throw new ModelError(`${base.label}: tensor ${name} is beyond num_hidden_layers ${numLayers}`, { file: base.weights.dir });
			byLayer[l].push(name);
		} else if (names.isEmbedding(name)) head.push(name);
		else tail.push(name);
	}
	const copyOf = (name: string): PlannedTensor => {
		const info = base.weights.get(name).info;
		return { name, dtype: outDtype(info, dtype), shape: info.shape, parts: [{ kind: "copy", source: input.base, name }] };
	};
	// Biases the output needs but the inputs lack (Qwen2-MoE's q/k/v) are written as zeros.
	const zeroBiases = (arch.biases.zeros ?? []).filter((site) => !biasesFound.has(site));
	const tensors: PlannedTensor[] = head.sort().map(copyOf);
	for (let l = 0; l < numLayers; l++) {
		const zeros = zeroBiases.map((site): PlannedTensor => {
			const rows = input.attentionRows[site];
			return { name: names.layer(l, `self_attn.${site}.bias`), dtype, shape: [rows], parts: [{ kind: "values", values: new Float32Array(rows), label: `zero ${site} bias` }] };
		});
		tensors.push(...[...byLayer[l].map(copyOf), ...zeros].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
		tensors.push(...expertTensors(input, l, H, I));
		const E = input.experts.length;
		tensors.push({ name: arch.routerName(l, layout), dtype, shape: [E, H], parts: routerParts(input, l, E, H) });
		tensors.push(...sharedExpertTensors(input, l, H, I));
	}
	tensors.push(...tail.sort().map(copyOf));
	// Values still being computed go last, so the writer streams everything else before it waits for them.
	const pending = (t: PlannedTensor) => t.parts.some((p) => p.kind === "pending");
	return [...tensors.filter((t) => !pending(t)), ...tensors.filter(pending)];
}

/** Router l: the computed rows, with kept rows copied from their MoE in between (one row each). */
function routerParts(input: TensorPlanInput, l: number, E: number, H: number): TensorPart[] {
	const kept = input.keptRouterRows ?? [];
	if (!kept.some((k) => k !== undefined)) return [layerPart(input.routers, l, E * H, `router ${l}`)];
	return Array.from({ length: E }, (_, e): TensorPart => {
		const keep = kept[e];
		if (keep) {
			const { label, weights } = input.weights[keep.source]!;
			const name = keep.name(l);
			const shape = weights.has(name) ? weights.get(name).info.shape : undefined;
			if (!shape || shape.length !== 2 || shape[1] !== H || keep.row >= shape[0]!) {
				throw new ModelError(`${label}: router ${name} has shape [${shape ?? "missing"}], expected at least ${keep.row + 1} rows of ${H}`, { file: weights.dir });
			}
			return { kind: "copy", source: keep.source, name, rows: { first: keep.row, count: 1 } };
		}
		const label = `router ${l} row ${e}`;
		const values = input.routers;
		if (typeof values === "function") return { kind: "pending", length: H, values: async () => (await values(l)).subarray(e * H, (e + 1) * H), label };
		return { kind: "values", values: values[l]!.subarray(e * H, (e + 1) * H), label };
	});
}

function layerPart(values: LayerValues, layer: number, length: number, label: string): TensorPart {
	if (typeof values === "function") return { kind: "pending", length, values: () => values(layer), label };
	if (values[layer].length !== length) throw new Error(`${label} has ${values[layer].length} values, expected ${length}`);
	return { kind: "values", values: values[layer], label };
}

/** The shared experts' stacked MLP (each expert copied like a routed one) and their gate row, when the architecture and the recipe have them. */
function sharedExpertTensors(input: TensorPlanInput, layer: number, H: number, I: number): PlannedTensor[] {
	const { architecture: arch, sharedExperts, dtype } = input;
	if (input.keptSharedExpert) return keptSharedTensors(input, input.keptSharedExpert, layer, H);
	if (!sharedExperts || sharedExperts.experts.length === 0) return [];
	if (!arch.sharedExpertNames) throw new Error(`${arch.displayName} has no shared expert, but the plan was given one`);
	const names = arch.sharedExpertNames;
	const N = sharedExperts.experts.length;
	const shape = expectedShapes(H, N * I);
	// The first keeps the noise stream of a single shared expert.
	const part = (p: MlpProjection) => sharedExperts.experts.map((e, i) => mlpPart(input, e, i === 0 ? "shared expert" : `shared expert ${i}`, layer, p));
	const tensors: PlannedTensor[] = [
		{ name: names.projection(layer, "gate_proj"), dtype, shape: shape.gate_proj, parts: part("gate_proj") },
		{ name: names.projection(layer, "up_proj"), dtype, shape: shape.up_proj, parts: part("up_proj") },
		{ name: names.projection(layer, "down_proj"), dtype, shape: shape.down_proj, parts: part("down_proj"), ...(N > 1 && { concat: "columns" as const }) },
	];
	if (names.gate) {
		if (!sharedExperts.gates) throw new Error(`${arch.displayName} gates its shared experts, but no gate rows were built`);
		tensors.push({ name: names.gate(layer), dtype, shape: [1, H], parts: [layerPart(sharedExperts.gates, layer, H, `shared expert gate ${layer}`)] });
	}
	return tensors;
}

/** The kept shared expert's tensors, each copied from the base MoE after its shape is checked. */
function keptSharedTensors(input: TensorPlanInput, kept: NonNullable<TensorPlanInput["keptSharedExpert"]>, layer: number, H: number): PlannedTensor[] {
	const names = input.architecture.sharedExpertNames!;
	const { label, weights } = input.weights[kept.source]!;
	const copy = (outName: string, part: MlpProjection | "gate", shape: number[]): PlannedTensor => {
		const name = kept.name(layer, part);
		const got = weights.has(name) ? weights.get(name).info.shape : undefined;
		if (!got || got.join(",") !== shape.join(",")) throw new ModelError(`${label}: its shared expert's ${part} of layer ${layer} has shape [${got ?? "missing"}], expected [${shape}]`, { file: weights.dir });
		return { name: outName, dtype: input.dtype, shape, parts: [{ kind: "copy", source: kept.source, name }] };
	};
	const shape = expectedShapes(H, kept.width);
	const tensors = MLP_PROJECTIONS.map((p) => copy(names.projection(layer, p), p, shape[p]));
	const gate = names.gate?.(layer);
	if (gate) tensors.push(copy(gate, "gate", [1, H]));
	return tensors;
}

function expectedShapes(H: number, I: number): Record<MlpProjection, number[]> {
	return { gate_proj: [I, H], up_proj: [I, H], down_proj: [H, I] };
}

/** One projection of an expert's dense MLP, checked, with its residual_scale and noise. */
function mlpPart(input: TensorPlanInput, expert: PlanExpert, noiseKey: string, layer: number, projection: MlpProjection): TensorPart {
	const { label, weights } = input.weights[expert.source];
	const name = input.inputNames.mlp(layer, projection);
	if (!weights.has(name)) {
		throw new ModelError(`${label}: tensor ${name} is missing from ${weights.dir}; is this a Llama-like dense model?`, { file: weights.dir });
	}
	const shape = weights.get(name).info.shape;
	const expected = expectedShapes(input.hiddenSize, input.intermediateSize)[projection];
	if (shape.join(",") !== expected.join(",")) {
		throw new ModelError(`${label}: tensor ${name} has shape [${shape}], expected [${expected}] from the config`, { file: weights.dir });
	}
	return {
		kind: "copy",
		source: expert.source,
		name,
		scale: projection === "down_proj" && expert.residualScale !== undefined && expert.residualScale !== 1 ? expert.residualScale : undefined,
		noise: expert.noiseScale ? { std: expert.noiseScale, key: `noise/${noiseKey}/${name}` } : undefined,
	};
}

/** Integer tensors (none in Llama-likes, but possible) keep their dtype; floats take the output dtype. */
function outDtype(info: TensorInfo, dtype: DType): DType {
	return info.dtype === "F32" || info.dtype === "F16" || info.dtype === "BF16" ? dtype : info.dtype;
}

function expertTensors(input: TensorPlanInput, layer: number, H: number, I: number): PlannedTensor[] {
	const { architecture: arch, dtype } = input;
	const expected = expectedShapes(H, I);
	const part = (e: number, projection: MlpProjection): TensorPart => mlpPart(input, input.experts[e], `expert${e}`, layer, projection);
	const E = input.experts.length;
	const experts = [...Array(E).keys()];
	if (input.layout === "fused") {
		const names = arch.fusedExpertNames?.(layer);
		if (!names) throw new ModelError(`${arch.displayName} has no fused expert layout; use --layout per-expert`);
		return [
			{ name: names.gateUp, dtype, shape: [E, 2 * I, H], parts: experts.flatMap((e) => [part(e, "gate_proj"), part(e, "up_proj")]) },
			{ name: names.down, dtype, shape: [E, H, I], parts: experts.map((e) => part(e, "down_proj")) },
		];
	}
	// Projection-major (every expert's gate_proj, then every up_proj, then every down_proj): the order of
	// GGUF's stacks (ffn_gate_exps, ffn_up_exps, ffn_down_exps), so a GGUF written from this stream gets
	// each stack's slices one after another and holds none of them back (gguf-tap.ts).
	return MLP_PROJECTIONS.flatMap((p) =>
		experts.map((e) => ({ name: arch.expertTensorName(layer, e, p), dtype, shape: expected[p], parts: [part(e, p)] })),
	);
}
