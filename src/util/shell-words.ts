/** Texts quoted for a POSIX shell, for the commands the CLI tells users to run. */

/** The text as one shell word (quoted only when it needs to be). */
export function shellQuote(text: string): string {
	return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** `rm -rf '<path>'`, quoted for any shell. */
export function removeCommand(path: string): string {
	return `rm -rf '${path.replaceAll("'", "'\\''")}'`;
}
