/** A command's one model argument (a folder or a Hub org/name[@revision]), resolved to a local folder. */
import { MoeMergeError } from "../errors.js";
import { type ResolvedModel, resolveModel } from "../merge/resolve-model.js";
import { type ModelRef, parseModelRef } from "../recipe/index.js";
import type { CommandRun } from "./run-command.js";

/** `needs` completes "… needs …" in the refusal of base+lora, e.g. "an MoE model folder or Hub repo". */
export async function resolveModelArgument(arg: string, run: CommandRun, needs: string): Promise<{ ref: Exclude<ModelRef, { kind: "lora" }>; resolved: ResolvedModel }> {
	const ref = parseModelRef(arg, process.cwd());
	if (ref.kind === "lora") throw new MoeMergeError(`${arg}: ${needs}, not base+lora`);
	const resolved = await resolveModel(ref, { hub: ref.kind === "hub" ? await run.hub() : undefined });
	// The download bar ends here: the command's own display takes over.
	run.transfers.stop();
	return { ref, resolved };
}
