import { MoeMergeError, type MoeMergeErrorOptions } from "../errors.js";

/**
 * A Hub request that failed for a reason the user can act on: no access, not found, offline, network,
 * a corrupted download. The CLI prints it like every MoeMergeError (exit 1, no stack).
 */
export class HubError extends MoeMergeError {
	/** The HTTP status, when the Hub answered. */
	readonly status?: number;
	constructor(message: string, options: MoeMergeErrorOptions & { status?: number } = {}) {
		super(message, options);
		this.status = options.status;
	}
}
