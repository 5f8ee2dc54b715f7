import { type HubSnapshot, type SnapshotMode, downloadSnapshot, resolveCommit } from "./download-snapshot.js";
import { networkErrorCode } from "./explain-hub-failure.js";
import { type HubAccess, type HubContext, openHub } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { RepoCache, isCommitSha } from "./repo-cache.js";
import { snapshotGaps } from "./snapshot-gaps.js";
import { checkRevision } from "./revision.js";
import { redactError } from "./redact-token.js";

/**
 * Finds `repo@revision` with every file a merge needs, downloading what the cache lacks:
 * - offline (HF_HUB_OFFLINE): the cache only, never a connection; a clear error when something is missing;
 * - a full commit sha already complete in the cache: no request at all (a commit never changes);
 * - otherwise the Hub says which commit the branch or tag is now (as huggingface_hub does), and only
 *   missing files are fetched. If the Hub cannot be reached, a complete cached snapshot of that
 *   branch or tag is used, with a warning.
 */
export async function resolveHubModel(repo: string, revision = "main", hub: HubAccess = {}, mode: SnapshotMode = {}): Promise<HubSnapshot> {
	checkRevision(revision, repo);
	const context = await openHub(hub);
	try {
		return await resolveWith(context, repo, revision, mode);
	} catch (error) {
		// The last filter: whatever a message quotes from the server, the token is not in it.
		throw redactError(error, context.token);
	}
}

async function resolveWith(context: HubContext, repo: string, revision: string, mode: SnapshotMode): Promise<HubSnapshot> {
	if (context.offline) return cachedOrOfflineError(context, repo, revision, mode);
	if (isCommitSha(revision)) {
		const cached = await completeCachedSnapshot(context, repo, revision, mode);
		if (cached) return cached;
	}
	if (mode.configOnly || mode.headersOnly) {
		// `validate` reads configs only, `plan` the weights' headers too (range requests), nothing more.
		const commit = await resolveCommit(context, repo, revision);
		return downloadSnapshot(context, repo, revision, commit, mode);
	}
	let commit: string;
	try {
		commit = await resolveCommit(context, repo, revision);
	} catch (error) {
		const unreachable = error instanceof HubError && networkErrorCode(error.cause) !== undefined;
		const cached = unreachable ? await completeCachedSnapshot(context, repo, revision, mode) : undefined;
		if (!cached) throw error;
		context.onWarning(`${(error as HubError).message}; using the cached snapshot ${cached.commit} of ${repo}@${revision}`);
		return cached;
	}
	return downloadSnapshot(context, repo, revision, commit, mode);
}

async function completeCachedSnapshot(context: HubContext, repo: string, revision: string, mode: SnapshotMode): Promise<HubSnapshot | undefined> {
	const found = await new RepoCache(context.cacheDir, repo, context.token).cachedSnapshot(revision);
	if (!found || (await snapshotGaps(found.dir, mode)).length > 0) return undefined;
	return { repo, revision, commit: found.commit, dir: found.dir, downloadedBytes: 0 };
}

async function cachedOrOfflineError(context: HubContext, repo: string, revision: string, mode: SnapshotMode): Promise<HubSnapshot> {
	const hint = "unset HF_HUB_OFFLINE to download it, or point HF_HUB_CACHE / HF_HOME at a cache that has it";
	const found = await new RepoCache(context.cacheDir, repo, context.token).cachedSnapshot(revision);
	if (!found) {
		throw new HubError(`${repo}@${revision} is not in the local Hugging Face cache (${context.cacheDir}), and offline mode (HF_HUB_OFFLINE) forbids downloading it`, {
			file: context.cacheDir,
			hint,
		});
	}
	const gaps = await snapshotGaps(found.dir, mode);
	if (gaps.length > 0) {
		throw new HubError(`${repo}@${revision}: the cached snapshot ${found.commit} lacks ${gaps.join(", ")}, and offline mode (HF_HUB_OFFLINE) forbids downloading`, {
			file: found.dir,
			hint,
		});
	}
	return { repo, revision, commit: found.commit, dir: found.dir, downloadedBytes: 0 };
}
