/**
 * A float32 forward pass of dense decoders (Llama, Mistral, Qwen2, Qwen3) that reproduces transformers,
 * streaming the model one layer at a time; used to build router weights from prompt hidden states.
 */
export {
	computePromptStates,
	type ForwardOptions,
	type ForwardProgress,
	type HiddenStateRequest,
	type PromptAllStates,
	type PromptStates,
	type PromptStatesResult,
} from "./compute-prompt-states.js";
export type { LinearBackend, LinearDType } from "./linear-backend.js";
export { ReferenceLinearBackend, type ReferenceLinear } from "./reference-linear.js";
export { describeModel, SUPPORTED_MODEL_TYPES, type ModelSpec } from "./model-spec.js";
export { newPhaseTimes, type PhaseTimes } from "./phase-times.js";
export { buildRope, type Rope, type RopeTables } from "./rope.js";
