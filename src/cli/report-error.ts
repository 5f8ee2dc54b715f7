import { MoeMergeError, MultipleErrors } from "../errors.js";

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_BUG = 2;
/** 128 + SIGINT, as shells report a process stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** What the CLI prints for an error and the exit code it implies: user errors without a stack unless verbose. */
export function describeError(error: unknown, verbose: boolean): { text: string; exitCode: number } {
	if (error instanceof MoeMergeError) {
		const text = error instanceof MultipleErrors ? error.errors.map((e) => `error: ${e.describe()}`).join("\n") : `error: ${error.describe()}`;
		return { text: verbose && error.stack ? `${text}\n${error.stack}` : text, exitCode: EXIT_USER_ERROR };
	}
	const err = error instanceof Error ? error : new Error(String(error));
	const text = `internal error (a bug in moe-merge, please report it): ${err.message}`;
	return { text: verbose ? `${text}\n${err.stack}` : `${text}\n(run with --verbose for the stack trace)`, exitCode: EXIT_BUG };
}

/** The machine-readable form of an error for --json. */
export function errorToJson(error: unknown): Record<string, unknown> {
	const list = error instanceof MultipleErrors ? error.errors : [error];
	return {
		ok: false,
		errors: list.map((e) =>
			e instanceof MoeMergeError
				? { kind: e.name, message: e.message, file: e.file, hint: e.hint, ...pick(e as unknown as Record<string, unknown>, ["line", "column", "fieldPath"]) }
				: { kind: "InternalError", message: e instanceof Error ? e.message : String(e) },
		),
	};
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
	return out;
}
