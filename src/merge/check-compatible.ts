import { ModelError } from "../errors.js";
import type { DenseConfig } from "../inputs/dense-config.js";
import type { ResolvedModel } from "./resolve-model.js";

/** Config fields that must agree between the base and every expert for their weights to be interchangeable. */
const SHAPE_FIELDS: readonly (keyof DenseConfig)[] = [
	"modelType",
	"hiddenSize",
	"numLayers",
	"intermediateSize",
	"vocabSize",
	"numHeads",
	"numKvHeads",
	"headDim",
];

const CONFIG_KEY: Partial<Record<keyof DenseConfig, string>> = {
	modelType: "model_type",
	hiddenSize: "hidden_size",
	numLayers: "num_hidden_layers",
	intermediateSize: "intermediate_size",
	vocabSize: "vocab_size",
	numHeads: "num_attention_heads",
	numKvHeads: "num_key_value_heads",
	headDim: "head_dim",
};

/** What makes `model` differ in shape from the base, one line per field (none: compatible). */
export function compatibleProblem(base: ResolvedModel, model: ResolvedModel): string[] {
	const problems: string[] = [];
	const what = (m: ResolvedModel) => (m.moe ? `${m.label} (read as a dense ${m.config.modelType} model${m.moe.expert === undefined ? "" : ` with expert ${m.moe.expert}'s MLP`})` : m.label);
	for (const field of SHAPE_FIELDS) {
		const want = base.config[field];
		const got = model.config[field];
		if (want !== got) {
			problems.push(`${what(model)}: ${CONFIG_KEY[field]} is ${got}, but the base model ${what(base)} has ${want} (${model.config.file})`);
		}
	}
	return problems;
}

/** Refuses, before anything is written, experts whose shapes differ from the base model's (every mismatch listed). */
export function checkCompatible(base: ResolvedModel, others: ResolvedModel[]): void {
	const problems = others.flatMap((model) => compatibleProblem(base, model));
	if (problems.length > 0) {
		throw new ModelError(`input models do not have the same shape:\n  ${problems.join("\n  ")}`, {
			file: others.find((m) => problems.some((p) => p.startsWith(m.label)))?.config.file,
		});
	}
}
