import { HubError } from "./hub-error.js";

// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0020\u007f~^:?*[\\]/;

/**
 * Why `revision` cannot name a branch, tag, commit or `refs/pr/N` on the Hub, or undefined when it can:
 * git's rules for ref names (git check-ref-format), which the Hub's branches and tags follow. Checked
 * where a revision is first read (a recipe, `--revision`, a library call), so `../../main` is refused
 * before any request; requests also URL-encode it.
 */
export function revisionProblem(revision: string): string | undefined {
	if (revision === "") return "it is empty";
	if (revision.length > 255) return "it is longer than 255 characters";
	if (FORBIDDEN.test(revision)) return "spaces, control characters and ~ ^ : ? * [ \\ are not allowed";
	if (revision.includes("..")) return '".." is not allowed';
	if (revision.includes("@{") || revision === "@") return '"@{" and "@" are not allowed';
	if (revision.startsWith("/") || revision.endsWith("/") || revision.includes("//")) return "it cannot start or end with / or hold //";
	if (revision.endsWith(".")) return "it cannot end with .";
	if (revision.split("/").some((part) => part.startsWith(".") || part.endsWith(".lock"))) return 'no part can start with "." or end with ".lock"';
	return undefined;
}

/** Throws a HubError for a revision the Hub cannot have (see revisionProblem). */
export function checkRevision(revision: string, subject: string): void {
	const problem = revisionProblem(revision);
	if (problem !== undefined) {
		throw new HubError(`${subject}: ${JSON.stringify(revision)} is not a valid revision (${problem})`, {
			hint: "give a branch (main), a tag (v1.0), a commit sha or refs/pr/N",
		});
	}
}
