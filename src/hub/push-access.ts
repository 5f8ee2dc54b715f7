import { whoAmI } from "@huggingface/hub";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { TOKEN_VIA_FETCH } from "./hub-fetch.js";
import { repoIdProblem } from "./repo-id.js";

/** Who is pushing, and the full repo id. */
export interface PushTarget {
	repo: string;
	/** The account the token belongs to. */
	user: string;
}

/**
 * Checks, before any work, that a push can happen: not offline, a token that the Hub accepts and that may
 * write. A repo given without `org/` goes to the token's account, as huggingface_hub's push_to_hub does.
 */
export async function checkPushAccess(context: HubContext, repo: string): Promise<PushTarget> {
	if (context.offline) {
		throw new HubError(`cannot push to ${repo}: offline mode (HF_HUB_OFFLINE) forbids using the network`, { hint: "unset HF_HUB_OFFLINE to push" });
	}
	if (!context.token) {
		throw new HubError(`pushing to ${repo} needs a Hugging Face token with write access, and none was found`, {
			hint: `create one at ${context.hubUrl}/settings/tokens, then set HF_TOKEN=hf_... or run \`hf auth login\` (it writes ~/.cache/huggingface/token)`,
		});
	}
	let me: Awaited<ReturnType<typeof whoAmI>>;
	try {
		me = await whoAmI({ hubUrl: context.hubUrl, fetch: context.fetch, ...TOKEN_VIA_FETCH });
	} catch (error) {
		throw context.explain(error, { repo, access: "write" });
	}
	if (me.auth?.accessToken?.role === "read") {
		throw new HubError(`pushing to ${repo}: the token from ${context.tokenSource} is read-only`, {
			hint: `create a token with write access at ${context.hubUrl}/settings/tokens`,
		});
	}
	const full = repo.includes("/") ? repo : `${me.name}/${repo}`;
	const problem = repoIdProblem(full);
	if (problem !== undefined) throw new HubError(`"${repo}" is not a valid repo id (org/name: ${problem})`);
	return { repo: full, user: me.name };
}
