/** One thing wrong with a checkpoint: the file it is about (relative to the checkpoint folder) and what. */
export interface CheckpointProblem {
	file: string;
	message: string;
}

/**
 * The message of an error about `path` without the leading "`path`: " our readers put in front, since
 * the report names the file itself.
 */
export function messageWithoutPath(error: Error, path: string): string {
	return error.message.startsWith(`${path}: `) ? error.message.slice(path.length + 2) : error.message;
}
