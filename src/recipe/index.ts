/** Recipes: mergekit-moe's YAML format (accepted unchanged) plus chat prompts, parsed and checked. */
export type { ArchitectureName, ExpertSpec, GateMode, ModelRef, ParseRecipeOptions, Prompt, Recipe, SourceLoc, TrainingSettings } from "./types.js";
export { parseRecipe, loadRecipe } from "./parse.js";
export { DEFAULT_REVISION, modelKey, parseModelRef, usesHub } from "./model-ref.js";
export { matchArchitectures } from "./architecture.js";
export { SAME_MODEL_FLAG } from "./rules.js";
export { expertSourceKey, keepsRouterRow } from "./moe-sources.js";
export { GATE_MODES, DEFAULT_GATE_MODE, isRandomGateMode, readsHiddenStates, usesPrompts, type GateModeInfo, type HiddenGateMode, type PromptGateMode, type RandomGateMode } from "./gate-modes.js";
export { schemaPath } from "./schema.js";
