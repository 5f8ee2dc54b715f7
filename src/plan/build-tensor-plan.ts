import type { ExpertLayout, MlpProjection, OutputArchitecture } from "../architectures/output-architecture.js";
import { ModelError } from "../errors.js";
import type { DType, ModelWeights, TensorInfo } from "../safetensors/index.js";
import type { PlannedTensor, TensorPart } from "./tensor-plan.js";

export interface PlanExpert {
	/** Index into `weights`. */
	source: number;
	noiseScale?: number;
	residualScale?: number;
}

export interface TensorPlanInput {
	architecture: OutputArchitecture;
	layout: ExpertLayout;
	dtype: DType;
	/** Open weights of every distinct input model; labels name them in errors. */
	weights: { label: string; weights: ModelWeights }[];
	base: number;
	experts: PlanExpert[];
	numLayers: number;
	hiddenSize: number;
	intermediateSize: number;
	/** Router rows per layer, [numExperts, hidden] row-major, or a function giving them once computed. */
	routers: Float32Array[] | ((layer: number) => Promise<Float32Array>);
}

const PROJECTIONS: readonly MlpProjection[] = ["gate_proj", "up_proj", "down_proj"];
/** Tensors of old checkpoints that transformers recomputes and never loads. */
const IGNORED = /\.rotary_emb\.inv_freq$/;

/**
 * Lays out every output tensor in file order (embeddings, then layer by layer, then the final norm
 * and head; routers still being computed at the very end) and names the source bytes of each. Every source tensor is looked up and its shape
 * checked here, so a missing or mis-shaped tensor is reported before any byte is written.
 */
export function buildTensorPlan(input: TensorPlanInput): PlannedTensor[] {
	const { architecture: arch, layout, dtype, numLayers, hiddenSize: H, intermediateSize: I } = input;
	const base = input.weights[input.base];
	const byLayer: string[][] = Array.from({ length: numLayers }, () => []);
	const head: string[] = [];
	const tail: string[] = [];
	for (const name of base.weights.names()) {
		if (IGNORED.test(name) || arch.isDenseMlpTensor(name)) continue;
		if (name.endsWith(".bias")) {
			throw new ModelError(`${base.label}: tensor ${name} is a bias, which ${arch.displayName} cannot carry`, { file: base.weights.dir });
		}
		const layer = /^model\.layers\.(\d+)\./.exec(name);
		if (layer) {
			const l = Number(layer[1]);
			if (l >= numLayers) throw new ModelError(`${base.label}: tensor ${name} is beyond num_hidden_layers ${numLayers}`, { file: base.weights.dir });
			byLayer[l].push(name);
		} else if (name.startsWith("model.embed_tokens.")) head.push(name);
		else tail.push(name);
	}
	const copyOf = (name: string): PlannedTensor => {
		const info = base.weights.get(name).info;
		return { name, dtype: outDtype(info, dtype), shape: info.shape, parts: [{ kind: "copy", source: input.base, name }] };
	};
	const tensors: PlannedTensor[] = head.sort().map(copyOf);
	for (let l = 0; l < numLayers; l++) {
		tensors.push(...byLayer[l].sort().map(copyOf));
		tensors.push(...expertTensors(input, l, H, I));
		const E = input.experts.length;
		const { routers } = input;
		const label = `router ${l}`;
		let part: TensorPart;
		if (typeof routers === "function") part = { kind: "pending", length: E * H, values: () => routers(l), label };
		else {
			if (routers[l].length !== E * H) throw new Error(`router of layer ${l} has ${routers[l].length} values, expected ${E * H}`);
			part = { kind: "values", values: routers[l], label };
		}
		tensors.push({ name: arch.routerName(l, layout), dtype, shape: [E, H], parts: [part] });
	}
	tensors.push(...tail.sort().map(copyOf));
	// Values still being computed go last, so the writer streams everything else before it waits for them.
	const pending = (t: PlannedTensor) => t.parts.some((p) => p.kind === "pending");
	return [...tensors.filter((t) => !pending(t)), ...tensors.filter(pending)];
}

/** Integer tensors (none in Llama-likes, but possible) keep their dtype; floats take the output dtype. */
function outDtype(info: TensorInfo, dtype: DType): DType {
	return info.dtype === "F32" || info.dtype === "F16" || info.dtype === "BF16" ? dtype : info.dtype;
}

function expertTensors(input: TensorPlanInput, layer: number, H: number, I: number): PlannedTensor[] {
	const { architecture: arch, dtype } = input;
	const expected: Record<MlpProjection, number[]> = { gate_proj: [I, H], up_proj: [I, H], down_proj: [H, I] };
	const part = (e: number, projection: MlpProjection): TensorPart => {
		const expert = input.experts[e];
		const { label, weights } = input.weights[expert.source];
		const name = `model.layers.${layer}.mlp.${projection}.weight`;
		if (!weights.has(name)) {
			throw new ModelError(`${label}: tensor ${name} is missing from ${weights.dir}; is this a Llama-like dense model?`, { file: weights.dir });
		}
		const shape = weights.get(name).info.shape;
		if (shape.join(",") !== expected[projection].join(",")) {
			throw new ModelError(`${label}: tensor ${name} has shape [${shape}], expected [${expected[projection]}] from the config`, { file: weights.dir });
		}
		return {
			kind: "copy",
			source: expert.source,
			name,
			scale: projection === "down_proj" && expert.residualScale !== undefined && expert.residualScale !== 1 ? expert.residualScale : undefined,
			noise: expert.noiseScale ? { std: expert.noiseScale, key: `noise/expert${e}/${name}` } : undefined,
		};
	};
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
	return experts.flatMap((e) =>
		PROJECTIONS.map((p) => ({ name: arch.expertTensorName(layer, e, p), dtype, shape: expected[p], parts: [part(e, p)] })),
	);
}
