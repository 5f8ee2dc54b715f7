/**
 * What the forward pass gives per prompt (the same shape as src/model's PromptStates, declared here so
 * the gate math does not depend on the model code).
 */
export interface PromptStates {
	/** [L] of H: the state at the last token of the input of decoder layer l (l = 0: embedding output). */
	last: Float32Array[];
	/** [L] of H: the mean of that input over all tokens of the prompt. */
	mean: Float32Array[];
}

/** Runs the base model on every id list once (batch of unpadded prompts) and returns their states. */
export type ComputePromptStates = (prompts: number[][]) => Promise<PromptStates[]>;
