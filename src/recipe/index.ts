/** Recipes: mergekit-moe's YAML format (accepted unchanged) plus chat prompts, parsed and checked. */
export type { ArchitectureName, ExpertSpec, GateMode, ModelRef, ParseRecipeOptions, Prompt, Recipe, SourceLoc } from "./types.js";
export { parseRecipe, loadRecipe } from "./parse.js";
export { parseModelRef } from "./model-ref.js";
export { ARCHITECTURE_NAMES, matchArchitectures } from "./architecture.js";
export { SAME_MODEL_FLAG, usesPrompts } from "./rules.js";
export { schemaPath } from "./schema.js";
