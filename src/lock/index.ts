/** Lock files: what a merge was made from (and made), like package-lock.json; `--locked` checks against it. */
export { LOCK_FILE_NAME, lockHead, readLock, recipeLockPath, writeLock, type LockRecipe, type LockedFile, type LockedSource, type MergeLock } from "./merge-lock.js";
export { assertMatchesLock, lockDifferences } from "./check-lock.js";
export { inputFileNames, lockFolderFiles, lockSources, type LockModel, type LockRole } from "./lock-sources.js";
