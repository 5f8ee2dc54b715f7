import { type CommitOutput, HubApiError, commitIter, createBranch, createRepo } from "@huggingface/hub";
import { VERSION } from "../version.js";
import { isTransientHubFailure } from "./explain-hub-failure.js";
import { type HubAccess, type HubContext, openHub } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { TOKEN_VIA_FETCH } from "./hub-fetch.js";
import { type PushTarget, checkPushAccess } from "./push-access.js";
import { type LocalFile, openPushFiles } from "./push-files.js";
import { redactError } from "./redact-token.js";
import { checkRevision } from "./revision.js";
import { waitToRetry } from "./wait-to-retry.js";

export interface PushSettings {
	/** Create the repo private (an existing repo keeps its visibility). */
	private?: boolean;
	/** The branch to commit to, created from the default branch when missing; default main. */
	branch?: string;
	commitTitle?: string;
	commitDescription?: string;
	/** What preparePush found for this repo earlier in the run: the Hub is not asked again who the token is. */
	target?: PushTarget;
}

/** Hub access (options or an opened context) and what to push. */
export type PushOptions = HubAccess & PushSettings;

export interface PushResult {
	repo: string;
	branch: string;
	commit: string;
	/** The repo's page (at the branch when it is not main). */
	url: string;
	createdRepo: boolean;
	files: string[];
	bytes: number;
	/** Large files the Hub already had (an interrupted push, an earlier commit): not sent again. */
	reusedFiles: string[];
}

/**
 * Checks that a push to `repo` can work (online, a write token) and gives its full id, before a merge
 * spends an hour producing something that cannot be pushed.
 */
export async function preparePush(repo: string, hub: HubAccess = {}, branch?: string): Promise<PushTarget> {
	if (branch !== undefined) checkRevision(branch, repo);
	const context = await openHub(hub);
	return checkPushAccess(context, repo).catch((error) => {
		throw redactError(error, context.token);
	});
}

/**
 * Uploads every file of a model folder to a Hub repo in one commit, creating the repo (and branch) when
 * needed. @huggingface/hub does the protocol: preupload, sha256 of large files, LFS batch (files the Hub
 * already stores are skipped, which is what makes a repeated push resume), uploads, the commit. Transient
 * failures are retried the same way.
 */
export async function pushToHub(dir: string, repo: string, options: PushOptions = {}): Promise<PushResult> {
	const branch = options.branch ?? "main";
	checkRevision(branch, repo);
	const context = await openHub(options);
	const opened = await openPushFiles(dir);
	try {
		return await pushFiles(context, dir, repo, branch, opened.files, options);
	} catch (error) {
		// The last filter: whatever a message quotes from the server, the token is not in it.
		throw redactError(error, context.token);
	} finally {
		await opened.close();
	}
}

async function pushFiles(context: HubContext, dir: string, repo: string, branch: string, files: LocalFile[], options: PushOptions): Promise<PushResult> {
	const target = options.target?.repo === repo ? options.target : await checkPushAccess(context, repo);
	const createdRepo = await ensureRepo(context, target.repo, options.private === true);
	if (branch !== "main") await ensureBranch(context, target.repo, branch);
	for (let attempt = 0; ; attempt++) {
		try {
			const { output, reusedFiles } = await commitFiles(context, target.repo, branch, files, options);
			const url = `${context.hubUrl}/${target.repo}${branch === "main" ? "" : `/tree/${encodeURIComponent(branch)}`}`;
			return {
				repo: target.repo,
				branch,
				commit: output.commit.oid,
				url,
				createdRepo,
				files: files.map((f) => f.name),
				bytes: files.reduce((sum, f) => sum + f.size, 0),
				reusedFiles,
			};
		} catch (error) {
			if (context.signal?.aborted) throw context.signal.reason ?? error;
			const explained = context.explain(error, { repo: target.repo, revision: branch, access: "write" });
			const retrying = isTransientHubFailure(error) && attempt < context.retries;
			if (retrying) context.onWarning(`upload to ${target.repo} interrupted (${explained instanceof Error ? explained.message : "connection lost"}); retrying, files already uploaded are skipped`);
			if (await waitToRetry(context, error, attempt, retrying)) continue;
			if (!(explained instanceof HubError) || !isTransientHubFailure(error)) throw explained;
			throw new HubError(explained.message, {
				status: explained.status,
				hint: `run the push again (\`moe-merge push ${dir} ${target.repo}\`): large files already uploaded are not sent again`,
			});
		}
	}
}

export async function ensureRepo(context: HubContext, repo: string, makePrivate: boolean): Promise<boolean> {
	try {
		await createRepo({ repo: { type: "model", name: repo }, visibility: makePrivate ? "private" : undefined, hubUrl: context.hubUrl, fetch: context.fetch, ...TOKEN_VIA_FETCH });
		return true;
	} catch (error) {
		if (error instanceof HubApiError && error.statusCode === 409) return false;
		throw context.explain(error, { repo, access: "write" });
	}
}

export async function ensureBranch(context: HubContext, repo: string, branch: string): Promise<void> {
	try {
		await createBranch({ repo: { type: "model", name: repo }, branch, hubUrl: context.hubUrl, fetch: context.fetch });
	} catch (error) {
		if (error instanceof HubApiError && error.statusCode === 409) return;
		throw context.explain(error, { repo, revision: branch, access: "write" });
	}
}

/** One commit of all files through the library, its events turned into byte progress. */
async function commitFiles(
	context: HubContext,
	repo: string,
	branch: string,
	files: LocalFile[],
	options: PushOptions,
): Promise<{ output: CommitOutput; reusedFiles: string[] }> {
	const sizes = new Map(files.map((f) => [f.name, f.size]));
	const bytesTotal = files.reduce((sum, f) => sum + f.size, 0);
	const hashed = new Map<string, number>();
	const sent = new Map<string, number>();
	const reused = new Set<string>();
	let phase: "hash" | "upload" = "hash";
	const report = (file?: string) => {
		const progress = phase === "hash" ? hashed : sent;
		let bytesDone = 0;
		let filesDone = 0;
		for (const [name, fraction] of progress) {
			bytesDone += (sizes.get(name) ?? 0) * fraction;
			if (fraction >= 1) filesDone++;
		}
		context.onProgress?.({ direction: "upload", phase, repo, file, bytesDone: Math.round(bytesDone), bytesTotal, filesDone, filesTotal: files.length });
	};
	const iterator = commitIter({
		repo: { type: "model", name: repo },
		operations: files.map((f) => ({ operation: "addOrUpdate", path: f.name, content: f.content })),
		title: options.commitTitle ?? `Upload ${files.length} files with moe-merge ${VERSION}`,
		description: options.commitDescription,
		branch,
		hubUrl: context.hubUrl,
		fetch: context.fetch,
		abortSignal: context.signal,
	});
	let step = await iterator.next();
	while (!step.done) {
		const event = step.value;
		// The library hashes large files inside its "uploadingLargeFiles" phase, so the event decides the phase.
		if (event.event === "phase") {
			if (event.phase === "committing") {
				phase = "upload";
				for (const f of files) if (!sent.has(f.name)) sent.set(f.name, 1);
				report();
			}
		} else if (event.state === "hashing") {
			phase = "hash";
			hashed.set(event.path, event.progress);
			report(event.path);
		} else if (event.state === "uploading") {
			phase = "upload";
			// The library reports a file the Hub already has with progress 1 straight away.
			if (!sent.has(event.path) && event.progress >= 1) reused.add(event.path);
			sent.set(event.path, event.progress);
			report(event.path);
		} else {
			throw new HubError(`${repo}: uploading ${event.path} failed`);
		}
		step = await iterator.next();
	}
	if (!step.value) throw new HubError(`${repo}: the Hub did not confirm the commit`);
	for (const f of files) sent.set(f.name, 1);
	report();
	return { output: step.value, reusedFiles: [...reused].sort() };
}
