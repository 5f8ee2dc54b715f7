/** huggingface_hub's repo id rule for `org/name`: letters, digits, `_`, `.`, `-`, no `--` or `..`, a name of at most 96 characters. */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const NAME_MAX = 96;

/** Why `id` is not a Hub repo id (`org/name`), or undefined when it is one: the one rule of recipes, model cards and push. */
export function repoIdProblem(id: string): string | undefined {
	if (!REPO_ID.test(id)) return "only letters, digits, _, . and - are allowed, and it must start with a letter or digit";
	if (id.includes("--") || id.includes("..")) return `"--" and ".." are not allowed`;
	if (id.slice(id.indexOf("/") + 1).length > NAME_MAX) return `the name is longer than ${NAME_MAX} characters`;
	return undefined;
}
