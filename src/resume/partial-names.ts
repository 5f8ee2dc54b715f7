import { basename, dirname, join, resolve } from "node:path";

/**
 * The folders a merge keeps beside its output `<parent>/<name>`, named and parsed only here:
 * `.<name>.moe-merge-partial-<pid>`, the staging folder it writes into (renamed into place when
 * complete, resumed by `--resume` when its process is gone), and `.<name>.moe-merge-old-<pid>`, the
 * output being replaced by `--overwrite`. The pid tells a running merge's folders from a dead one's.
 */
export type PartialKind = "partial" | "old";

const PARTIAL_NAME = /^\.(.+)\.moe-merge-(partial|old)-(\d+)$/;

/** The folder of `kind` that process `pid` (this one by default) keeps beside `target`. */
export function partialPathOf(target: string, kind: PartialKind, pid: number = process.pid): string {
	const finalDir = resolve(target);
	return join(dirname(finalDir), `.${basename(finalDir)}.moe-merge-${kind}-${pid}`);
}

/** What a folder named by partialPathOf is: the output it belongs to, its kind and the process that made it; undefined for any other path. */
export function parsePartialPath(path: string): { target: string; kind: PartialKind; pid: number } | undefined {
	const match = PARTIAL_NAME.exec(basename(path));
	const pid = Number(match?.[3]);
	if (!match || !pid) return undefined;
	return { target: join(dirname(resolve(path)), match[1]!), kind: match[2] as PartialKind, pid };
}
