/** Hugging Face Hub: resolve and download models into the shared cache, push merged models. */
export { HubError } from "./hub-error.js";
export type { HubOptions } from "./hub-options.js";
export type { TransferProgress, TransferProgressCallback } from "./transfer-progress.js";
export { DEFAULT_HUB_URL, hubEndpoint } from "./hub-endpoint.js";
export { findHubToken, type HubToken } from "./hub-token.js";
export { hfHomeDir, hubCacheDir, tokenFilePath } from "./cache-paths.js";
export { resolveHubModel } from "./resolve-hub-model.js";
export type { HubSnapshot } from "./download-snapshot.js";
export { MERGE_SIDE_FILES } from "../checkpoint/side-files.js";
export { preparePush, pushToHub, type PushOptions, type PushResult } from "./push-to-hub.js";
export type { PushTarget } from "./push-access.js";
export { openHub, type HubAccess, type HubContext } from "./hub-context.js";
