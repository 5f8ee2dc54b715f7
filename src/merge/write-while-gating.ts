import type { GateSummary } from "../gates/index.js";
import type { MergePlan } from "./plan-merge.js";
import { gatesForRecord, gatesFromRecord } from "../resume/recorded-gates.js";
import { loadRouterValues, saveRouterValues } from "../resume/recorded-routers.js";
import type { ResumeOutcome, StoredElsewhere } from "../resume/resume-partial.js";
import type { ResumeStart } from "../resume/resume-start.js";
import { join } from "node:path";
import type { ShardPlan } from "../safetensors/index.js";
import { type WriteProgress, type WriteShardsOptions, writeShards } from "./write-shards.js";
import { writeKeepingClaimed } from "./write-keeping-claimed.js";

/** What the two halves of a merge's writing need from the merge's options. */
export interface WriteWhileGatingOptions {
	onProgress?: (progress: WriteProgress) => void;
	/** Sees the output bytes as they are written (GGUF files); only when no shard is kept from an interrupted merge. */
	tap?: WriteShardsOptions["tap"];
	onResume?: (outcome: ResumeOutcome) => void;
	signal?: AbortSignal;
	/** Each shard once written, fsynced, hashed and recorded (a merge streamed to the Hub uploads it meanwhile). */
	shardSink?: ShardSink;
}

/** Takes each finished shard of a merge (run-stream-merge.ts uploads it); the writer waits for it before the next. */
export interface ShardSink {
	shardWritten(path: string, shard: ShardPlan, sha256: string): Promise<void>;
	/** Output bytes the merge needs on disk instead of the whole model (two shards). */
	requiredBytes(shards: readonly ShardPlan[]): number;
	/** Resuming: a shard of the killed merge already stored where the sink puts them (not hashed again, not rewritten). */
	storedElsewhere?: StoredElsewhere;
}

/**
 * Streams the shards while the forward pass of hidden-state gates runs (the routers are planned last
 * in the last shard, so the writer only waits for them at the very end). A failure of either half
 * stops the other, and both have ended before this returns or throws, so the staging folder can go.
 * Resuming, the claimed shards are not written while their sha256 is checked; those that fail the
 * check are written after the others. The forward pass is not run again when the interrupted merge
 * had saved the router values, nor when every shard is claimed and the gates were recorded (unless
 * the shard holding the routers then fails its check).
 */
export async function writeWhileGating(
	plan: MergePlan,
	dir: string,
	options: WriteWhileGatingOptions,
	resume: ResumeStart,
): Promise<{ shardHashes: Map<string, string>; gates: GateSummary; gateWarnings: string[]; resumed?: ResumeOutcome }> {
	const { journal, claimed } = resume;
	const stop = new AbortController();
	const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
	let firstError: { error: unknown } | undefined;
	const failing = (error: unknown): never => {
		firstError ??= { error };
		stop.abort(error);
		throw error;
	};
	const runGates = (pending: NonNullable<MergePlan["pendingGates"]>) =>
		pending
			.run(signal)
			.then(async (outcome) => {
				// Saved at once (not when the writer reaches them, last): a resume then needs no forward pass.
				const routers = await saveRouterValues(dir, plan.tensors);
				await journal.update((r) => ({ ...r, gates: gatesForRecord(outcome.gates, outcome.warnings), routers }));
				return outcome;
			})
			.catch(failing);
	const recorded = journal.current.gates;
	// Resuming after the forward pass: its router values were saved, the plan's pending parts become them.
	const routed = recorded && plan.pendingGates ? await loadRouterValues(dir, plan.tensors, journal.current.routers) : undefined;
	const write = (done: ReadonlyMap<string, string>) =>
		writeShards({
			dir,
			tensors: routed ?? plan.tensors,
			shards: plan.shards,
			sources: plan.weights,
			seed: plan.seed,
			onProgress: options.onProgress,
			signal,
			done,
			// Kept shards do not stream by: then the GGUF files are written from the finished shards.
			tap: claimed.size === 0 && done.size === 0 ? options.tap : undefined,
			// The shard is fsynced by now: the record may name it.
			onShardWritten: async (shard, sha256) => {
				await journal.shardDone(shard.fileName, shard.headerBytes + shard.dataBytes, sha256);
				await options.shardSink?.shardWritten(join(dir, shard.fileName), shard, sha256);
			},
		});
	const skipGates = Boolean(plan.pendingGates && recorded && (routed || plan.shards.every((s) => claimed.has(s.fileName))));
	let regated: ReturnType<typeof runGates> | undefined;
	let resumed: ResumeOutcome | undefined;
	const writing = writeKeepingClaimed(resume, write, {
		onResume: (outcome) => {
			resumed = outcome;
			options.onResume?.(outcome);
		},
		// The routers are in the last shard: rewriting it needs the forward pass that was skipped.
		beforeRewrite: () => {
			if (skipGates && !routed && plan.pendingGates) regated = runGates(plan.pendingGates);
		},
	})
		.then((w) => w.hashes)
		.catch(failing);
	const gating = !plan.pendingGates ? Promise.resolve({ gates: plan.gates!, warnings: [] }) : skipGates ? Promise.resolve(gatesFromRecord(recorded!)) : runGates(plan.pendingGates);
	const [written, gated] = await Promise.allSettled([writing, gating]);
	const [again] = regated ? await Promise.allSettled([regated]) : [];
	if (firstError) throw firstError.error;
	if (written.status === "rejected") throw written.reason;
	if (gated.status === "rejected") throw gated.reason;
	const gates = again?.status === "fulfilled" ? again.value : gated.value;
	return { shardHashes: written.value, gates: gates.gates, gateWarnings: gates.warnings, resumed };
}
