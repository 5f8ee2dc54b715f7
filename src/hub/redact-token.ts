import { MoeMergeError, MultipleErrors } from "../errors.js";

/** What a token is replaced by in any text we print or write. */
export const REDACTED = "hf_***";

/**
 * Removes every occurrence of the token from a text (a server may echo it back, in an error body or in
 * a 200 answer's file names and ids). Everything we print that holds server text passes through here.
 */
export function redactToken(text: string, token: string | undefined): string {
	if (!token || token.length < 4) return text;
	return text.split(token).join(REDACTED);
}

/** A value the server sent, for a message: JSON-quoted (control characters escaped), shortened, token removed. */
export function quoteServerValue(value: unknown, token: string | undefined, max = 120): string {
	const text = JSON.stringify(value) ?? String(value);
	return redactToken(text.length > max ? `${text.slice(0, max)}...` : text, token);
}

/**
 * The error with the token removed from its message, hint and stack (and those of the errors it
 * gathers), in place: the last filter before an error leaves the Hub code or reaches the user.
 */
export function redactError<T>(error: T, token: string | undefined): T {
	if (!token || !(error instanceof Error)) return error;
	const clean = (text: string | undefined) => (text === undefined ? undefined : redactToken(text, token));
	error.message = clean(error.message) as string;
	if (error.stack) error.stack = clean(error.stack);
	if (error instanceof MoeMergeError && error.hint) Object.defineProperty(error, "hint", { value: clean(error.hint) });
	if (error instanceof MultipleErrors) for (const inner of error.errors) redactError(inner, token);
	return error;
}
