/** moe-merge's library API: the CLI is a thin layer over these. */
export * from "./errors.js";
export { VERSION } from "./version.js";
export { loadRecipe, parseRecipe, parseModelRef } from "./recipe/index.js";
export type { Recipe, ExpertSpec, ModelRef, GateMode, ArchitectureName, Prompt, SourceLoc } from "./recipe/index.js";
export { runMerge, RECIPE_FILE_NAME, type MergeOptions, type MergeResult } from "./merge/run-merge.js";
export { applyLora, type ApplyLoraOptions, type ApplyLoraResult } from "./merge/run-apply-lora.js";
export { planMerge, closeMergePlan, DEFAULT_SHARD_SIZE, type MergePlan, type PlanMergeOptions } from "./merge/plan-merge.js";
export { resolveRecipeModels, type ResolvedRecipe } from "./merge/resolve-recipe-models.js";
export type { WriteProgress } from "./merge/write-shards.js";
export { readDenseConfig, type DenseConfig } from "./inputs/dense-config.js";
export * from "./hub/index.js";
export { LOCK_FILE_NAME, lockDifferences, readLock, recipeLockPath, type LockedFile, type LockedSource, type MergeLock } from "./lock/index.js";
export { ARCHITECTURES, chooseArchitecture } from "./architectures/choose-architecture.js";
export type { OutputArchitecture, ExpertLayout } from "./architectures/output-architecture.js";
export * from "./safetensors/index.js";
export { parseSize, formatBytes } from "./util/size.js";
export { makeDenseModel, type DenseModelShape } from "./demo/make-dense-model.js";
export * from "./report/index.js";
