/**
 * The shape of an MoE checkpoint, from its config.json: the architecture's description (looked up by
 * model_type in src/architectures/registry.ts) says which keys to read, which layers are sparse and how
 * the router routes; the attention half is described by the dense forward pass's own ModelSpec (config
 * read as the dense family whose attention the architecture keeps). Anything unsupported is a
 * ModelError naming config.json.
 */
import type { OutputArchitecture } from "../architectures/output-architecture.js";
import { architectureByModelType, knownModelTypes } from "../architectures/registry.js";
import { ModelError } from "../errors.js";
import { normaliseDenseConfig, readConfigObject } from "../inputs/dense-config.js";
import { describeModel, type ModelSpec } from "./model-spec.js";

export interface MoeSpec {
	arch: OutputArchitecture;
	/** Attention, norms, rope, vocabulary: as the dense forward pass describes them. */
	dense: ModelSpec;
	experts: number;
	topK: number;
	normTopK: boolean;
	expertIntermediate: number;
	/** The shared experts' intermediate size (Qwen2-MoE, DeepSeek with shared experts). */
	sharedIntermediate?: number;
	/** Per layer: a routed MoE block (else a dense MLP). */
	sparse: boolean[];
}

export async function readMoeSpec(dir: string): Promise<MoeSpec> {
	const { raw, file } = await readConfigObject(dir);
	return describeMoe(raw, file);
}

export function describeMoe(raw: Record<string, unknown>, file: string): MoeSpec {
	const arch = architectureByModelType(raw.model_type);
	if (!arch) {
		throw new ModelError(`${file}: model_type ${JSON.stringify(raw.model_type)} is not an MoE architecture the report can run (supported: ${knownModelTypes()})`, {
			file,
			hint: "run the report on a merged MoE model folder (or its Hub name)",
		});
	}
	const int = (key: string, fallback?: number): number => {
		const v = raw[key] ?? fallback;
		if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new ModelError(`${file}: "${key}" must be a positive integer, got ${JSON.stringify(raw[key])}`, { file });
		return v;
	};
	const keys = arch.config;
	const experts = int(keys.experts.find((key) => raw[key] != null) ?? keys.experts[0]!);
	const topK = int("num_experts_per_tok");
	if (topK > experts) throw new ModelError(`${file}: num_experts_per_tok ${topK} is more than the ${experts} experts`, { file });
	// Qwen MoE configs carry intermediate_size for their dense layers; the dense reader needs one anyway.
	const dense = describeModel(normaliseDenseConfig({ ...raw, model_type: arch.attention, intermediate_size: raw.intermediate_size ?? raw[keys.expertIntermediate] }, file));
	return {
		arch,
		dense,
		experts,
		topK,
		normTopK: arch.router.normTopK(raw),
		expertIntermediate: int(keys.expertIntermediate),
		sharedIntermediate: sharedSize(arch, raw, file),
		sparse: Array.from({ length: dense.layers }, (_, l) => keys.sparseLayer(raw, l)),
	};
}

function sharedSize(arch: OutputArchitecture, raw: Record<string, unknown>, file: string): number | undefined {
	if (!arch.sharedExpertNames || !arch.config.sharedIntermediate) return undefined;
	const size = arch.config.sharedIntermediate(raw) ?? 0;
	if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new ModelError(`${file}: the shared experts' size must be a non-negative integer, got ${JSON.stringify(size)}`, { file });
	return size > 0 ? size : undefined;
}
