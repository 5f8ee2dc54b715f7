/** Router (gate) weights: random ones, and rows computed from the experts' prompts. */
export { buildRandomGates, type RandomGateOptions } from "./random-gates.js";
export { buildPromptGates, tokenizeGatePrompts, type BuildGatesOptions, type BuiltGates, type GatePrompts, type TokenizedGatePrompts } from "./build-gates.js";
export { assembleGates, gatesFromEmbeddingSums, gatesFromStates, routerStats, type ExpertEmbeddingSums, type ExpertStates, type GateShape, type PromptGates } from "./assemble-gates.js";
export { gateLayerStats, type GateLayerStats } from "./gate-stats.js";
export { DEGENERATE_CONDITION_NUMBER, degenerateGateWarnings } from "./degenerate-warnings.js";
export type { ComputePromptStates, PromptStates } from "./prompt-states.js";
export { summarizeGates, type GateSummary } from "./gate-summary.js";
