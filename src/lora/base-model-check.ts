/** Whether an adapter was trained on another model than the one it is applied to (peft's base_model_name_or_path). */
import { basename } from "node:path";
import { isHubId } from "../hub/repo-id.js";
import type { LoraAdapter } from "./adapter-files.js";

/**
 * A sentence when the adapter names a Hub model (`org/name`) that is neither the model's reference nor
 * its config's `_name_or_path` (compared by name, so a local copy of the same repo matches); undefined
 * otherwise, and when the adapter names a local path, which says nothing about another machine's model.
 */
export function baseModelMismatch(adapter: LoraAdapter, model: { ref: string; config: Record<string, unknown> }): string | undefined {
	const named = adapter.config.baseModel;
	if (!isHubId(named)) return undefined;
	const ours = [model.ref.split("@")[0], model.config._name_or_path].filter((s): s is string => typeof s === "string" && s !== "");
	if (ours.some((o) => o === named || basename(o) === basename(named))) return undefined;
	return `adapter ${adapter.name} was trained on ${named} (its base_model_name_or_path), not on ${model.ref}`;
}
