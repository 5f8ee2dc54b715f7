import { HubError } from "./hub-error.js";
import type { RepoFile } from "./snapshot-files.js";
import { quoteServerValue } from "./redact-token.js";

/** An entry of the Hub's tree listing, as the library passes it on (fields are whatever the server sent). */
export interface ListedEntry {
	path: unknown;
	size: unknown;
	oid?: unknown;
	lfs?: { oid?: unknown; size?: unknown };
}

const GIT_OID = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// NUL, line breaks, escapes: no file of a real repo has them, and they could garble a terminal or a path.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A file of the listing, checked before anything uses it: a plain top-level name (no control characters,
 * no `/`, `\`, `.` or `..`, not holding the token), a git oid, a sha256 for LFS files, a size. A hostile
 * or broken server is refused here, with the offending value quoted safely (escaped, token removed).
 */
export function listedFile(entry: ListedEntry, label: string, token: string | undefined): RepoFile {
	const refuse = (what: string, value: unknown) =>
		new HubError(`${label}: the Hub's file listing has ${what} ${quoteServerValue(value, token)}; refusing it`, {
			hint: "the server is not behaving like the Hugging Face Hub: check HF_ENDPOINT",
		});
	const path = entry.path;
	if (typeof path !== "string" || path === "" || path === "." || path === ".." || /[/\\]/.test(path) || CONTROL.test(path)) {
		throw refuse("a file name that is not a plain file name", path);
	}
	if (token && path.includes(token)) throw refuse("a file name holding your access token,", path);
	const lfs = entry.lfs;
	const size = lfs?.size ?? entry.size;
	if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw refuse(`for ${JSON.stringify(path)} the size`, size);
	if (lfs) {
		if (typeof lfs.oid !== "string" || !SHA256.test(lfs.oid)) throw refuse(`for ${JSON.stringify(path)} the LFS sha256`, lfs.oid);
		return { path, size, etag: lfs.oid, sha256: lfs.oid };
	}
	if (typeof entry.oid !== "string" || !GIT_OID.test(entry.oid)) throw refuse(`for ${JSON.stringify(path)} the git object id`, entry.oid);
	return { path, size, etag: entry.oid };
}
