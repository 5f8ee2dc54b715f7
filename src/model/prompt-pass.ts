/**
 * The frame every forward pass over prompts shares (the dense one for gates, the MoE one for the report
 * and later readers): every prompt has a token, the model is described before a weight is read, its
 * weights are open for the pass and closed whatever happens (unless the caller passes them already open).
 */
import { MoeMergeError } from "../errors.js";
import { ModelWeights } from "../safetensors/index.js";

export async function runPromptPass<S, T>(
	modelDir: string,
	prompts: readonly number[][],
	describe: () => S | Promise<S>,
	pass: (weights: ModelWeights, spec: S) => Promise<T>,
	opened?: ModelWeights,
): Promise<T> {
	prompts.forEach((ids, i) => {
		if (ids.length === 0) throw new MoeMergeError(`prompt ${i} has no tokens; every prompt needs at least one token id`);
	});
	const spec = await describe();
	// Weights the caller opened (e.g. with a LoRA applied as they are read) stay the caller's to close.
	if (opened) return pass(opened, spec);
	const weights = await ModelWeights.open(modelDir);
	try {
		return await pass(weights, spec);
	} finally {
		await weights.close();
	}
}
