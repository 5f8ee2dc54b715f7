import { readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HubAccess, openHub } from "../hub/hub-context.js";
import type { PushTarget } from "../hub/push-access.js";
import { preparePush } from "../hub/push-to-hub.js";
import type { RangeWeightSource } from "../hub/remote-weight-files.js";
import { type SmallFile, StreamPush, type UploadedFile } from "../hub/stream-push.js";
import { LOCK_FILE_NAME, readLock } from "../lock/index.js";
import type { Recipe } from "../recipe/index.js";
import { VERSION } from "../version.js";
import type { MergePlan } from "./plan-merge.js";
import { type MergeOptions, type MergeResult, runMerge } from "./run-merge.js";
import { prefetchPlan } from "./planned-range-reads.js";
import { ShardUploads } from "./shard-uploads.js";

export interface StreamMergeOptions extends Omit<MergeOptions, "outputDir" | "shardSink" | "rangeWeights" | "overwrite" | "hub"> {
	/** The Hub repo to push to (`org/name`, or `name` for the token's account). */
	repo: string;
	hub?: HubAccess;
	/** Create the repo private (an existing repo keeps its visibility). */
	private?: boolean;
	/** The branch to commit to (created when missing); default main. */
	branch?: string;
	/** What preparePush found earlier in the run. */
	target?: PushTarget;
	/** Where the shards pass through (at most two at a time) and the small files are made; default `$TMPDIR/moe-merge-stream/<org>--<name>`. */
	workDir?: string;
	/** Each shard once the Hub has it. */
	onShardUploaded?: (file: UploadedFile) => void;
}

export interface StreamMergeResult extends Omit<MergeResult, "outputDir"> {
	repo: string;
	branch: string;
	commit: string;
	url: string;
	createdRepo: boolean;
	/** Bytes of input weights that came over the network (range requests), and the whole size of those files. */
	transfer: { readBytes: number; inputBytes: number };
}

/**
 * `moe-merge recipe.yml --push-to-hub org/name --no-local-copy`: Hub inputs are read with range requests
 * as the merge goes (never stored), each output shard is uploaded while the next is written and then
 * freed, and one commit names every shard with config, index, tokenizer, card and lock, so the repo
 * never shows half a model. Disk: two shards plus the small files, whatever the model size.
 */
export async function runStreamMerge(recipe: Recipe, options: StreamMergeOptions): Promise<StreamMergeResult> {
	const context = await openHub({ ...options.hub, signal: (options.hub as { signal?: AbortSignal } | undefined)?.signal ?? options.signal });
	const target = options.target?.repo === options.repo ? options.target : await preparePush(options.repo, context, options.branch);
	const push = await StreamPush.start(context, target.repo, { branch: options.branch, private: options.private });
	const workDir = options.workDir ?? join(tmpdir(), "moe-merge-stream", target.repo.replace("/", "--"));
	const outputDir = join(workDir, "model");
	const uploads = new ShardUploads(push, options.onShardUploaded);
	let plan: MergePlan | undefined;
	let prefetch: ReturnType<typeof prefetchPlan>;
	const result = await runMerge(recipe, {
		...options,
		hub: context,
		outputDir,
		// The folder is this run's own scratch space.
		overwrite: true,
		rangeWeights: true,
		repoId: target.repo,
		shardSink: uploads,
		onPlan: async (p, keptShards) => {
			plan = p;
			// The writer's reads of Hub files, batched and fetched ahead, several at once (not those of
			// shards a resumed merge keeps: already on the Hub).
			prefetch = prefetchPlan(p, keptShards);
			await options.onPlan?.(p, keptShards);
		},
		beforeCommit: async (dir) => {
			await uploads.drain();
			return (await options.beforeCommit?.(dir)) ?? [];
		},
	}).finally(() => prefetch?.close());
	const transfer = transferOf(plan);
	const shardNames = new Set(result.shards);
	// Shards a resumed merge kept were uploaded by the interrupted run: the Hub must still have them.
	const uploaded = new Map(uploads.uploaded.map((f) => [f.name, f]));
	// The lock holds each shard's size and the sha256 computed as it was written.
	const lock = await readLock(join(outputDir, LOCK_FILE_NAME));
	const large = (lock?.output?.files ?? []).filter((f) => shardNames.has(f.path)).map((f) => ({ name: f.path, size: f.size, sha256: f.sha256 }));
	if (large.length !== shardNames.size) throw new Error(`the lock of ${outputDir} does not list every shard`);
	// A shard the killed merge finished but had not uploaded was kept whole (its sha256 checked): it goes up now.
	for (const file of large) if (!uploaded.has(file.name) && !(await push.has(file))) await push.uploadLargeFile(join(outputDir, file.name), file);
	const small: SmallFile[] = [];
	for (const name of (await readdir(outputDir)).sort()) {
		if (shardNames.has(name) || name.startsWith(".")) continue;
		if (!(await stat(join(outputDir, name))).isFile()) continue;
		small.push({ name, content: await readFile(join(outputDir, name)) });
	}
	const commit = await push.commit(small, large, `Upload ${target.repo.split("/")[1]} (merged by moe-merge ${VERSION}, streamed)`);
	await rm(workDir, { recursive: true, force: true });
	const { outputDir: _, ...rest } = result;
	return {
		...rest,
		repo: target.repo,
		branch: push.branch,
		commit,
		url: `${context.hubUrl}/${target.repo}${push.branch === "main" ? "" : `/tree/${encodeURIComponent(push.branch)}`}`,
		createdRepo: push.createdRepo,
		transfer,
	};
}

/** Bytes the range readers moved, and the size of the files they read. */
function transferOf(plan: MergePlan | undefined): { readBytes: number; inputBytes: number } {
	let readBytes = 0;
	let inputBytes = 0;
	for (const model of plan?.models ?? []) {
		const source = model.weightFiles as RangeWeightSource | undefined;
		for (const file of source?.rangeFiles?.values() ?? []) {
			readBytes += file.transferred();
			inputBytes += file.size;
		}
	}
	return { readBytes, inputBytes };
}
