import { HubError } from "./hub-error.js";
import { revisionProblem } from "../recipe/revision-rule.js";

/** Throws a HubError for a revision the Hub cannot have (see revisionProblem). */
export function checkRevision(revision: string, subject: string): void {
	const problem = revisionProblem(revision);
	if (problem !== undefined) {
		throw new HubError(`${subject}: ${JSON.stringify(revision)} is not a valid revision (${problem})`, {
			hint: "give a branch (main), a tag (v1.0), a commit sha or refs/pr/N",
		});
	}
}
