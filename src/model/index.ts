/**
 * Float32 forward passes that reproduce transformers, streaming the model one layer at a time: of dense
 * decoders (Llama, Mistral, Qwen2, Qwen3), to build router weights from prompt hidden states; and of
 * the MoE checkpoints the architecture descriptions describe, for the routing report.
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
export { computeMoeRouterInputs, runMoeForward, type MoeForwardOptions, type PromptRouting, type PromptLayerRouting } from "./moe-forward.js";
export { describeMoe, readMoeSpec, type MoeSpec } from "./moe-spec.js";
