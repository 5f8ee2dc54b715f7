import { OutputError } from "../errors.js";

/** File-system failures a user fixes (room, permissions, a read-only or failing disk), by errno. */
const REASONS: Record<string, string> = {
	ENOSPC: "no space left on",
	EDQUOT: "disk quota exceeded on",
	EROFS: "read-only file system at",
	EACCES: "permission denied writing",
	EPERM: "operation not permitted writing",
	EIO: "I/O error writing",
};

/**
 * A failure while writing the output as the user should see it: an errno error of the file system
 * becomes an OutputError naming the path ("no space left on <path>"); anything else is returned as is.
 */
export function describeOutputFailure(error: unknown): unknown {
	const e = error as NodeJS.ErrnoException;
	const reason = typeof e?.code === "string" ? REASONS[e.code] : undefined;
	if (!reason || error instanceof OutputError) return error;
	const path = e.path ?? "the output folder";
	return new OutputError(`${reason} ${path}; the partial output was removed`, {
		file: e.path,
		cause: error,
		hint: e.code === "ENOSPC" || e.code === "EDQUOT" ? "free some space or choose an output folder on another disk" : undefined,
	});
}
