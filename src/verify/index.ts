/** `moe-merge verify`: checks a finished checkpoint folder without loading it. */
export { checkMergedOutput, verifyCheckpoint, type VerifyOptions, type VerifyReport } from "./verify-checkpoint.js";
export type { CheckpointProblem } from "./problem.js";
