/** What a token is replaced by in any text we print or write. */
export const REDACTED = "hf_***";

/**
 * Removes every occurrence of the token from a text (a server may echo it back in an error body).
 * Messages and hints of Hub errors pass through here before they reach a log, --json or a file.
 */
export function redactToken(text: string, token: string | undefined): string {
	if (!token || token.length < 4) return text;
	return text.split(token).join(REDACTED);
}
