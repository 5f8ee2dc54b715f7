import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HubError, findHubToken, resolveHubModel } from "../../src/hub/index.js";
import { ALICE, BOB, LLAMA_BASE, hubOptions, startHub, tempDir } from "./helpers.js";

const hub = await startHub();
hub.store.createRepo("alice/private-model", { private: true });
await hub.store.commitFolder("alice/private-model", LLAMA_BASE);
hub.store.createRepo("org/gated-model", { gated: "manual", granted: ["carol"] });
await hub.store.commitFolder("org/gated-model", LLAMA_BASE);
hub.store.createRepo("org/public-model");
await hub.store.commitFolder("org/public-model", LLAMA_BASE);
const CAROL = "hf_carolGrantedToken0123456789abcdef";
hub.accounts.set(CAROL, { user: "carol" });

async function failure(promise: Promise<unknown>): Promise<HubError> {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e,
	);
	assert.ok(error instanceof HubError, `expected a HubError, got ${error}`);
	return error;
}

describe("Hub authentication", () => {
	it("finds the token like huggingface_hub: HF_TOKEN, then HF_TOKEN_PATH, then $HF_HOME/token", async () => {
		const home = await tempDir();
		await mkdir(join(home, "hf"), { recursive: true });
		await writeFile(join(home, "hf", "token"), "hf_fromHome\n");
		await writeFile(join(home, "custom-token"), "  hf_fromPath\r\n");
		const base = { HF_HOME: join(home, "hf") };
		assert.deepEqual(await findHubToken({ ...base, HF_TOKEN: "hf_fromEnv", HF_TOKEN_PATH: join(home, "custom-token") }), { value: "hf_fromEnv", source: "HF_TOKEN" });
		assert.deepEqual(await findHubToken({ ...base, HF_TOKEN_PATH: join(home, "custom-token") }), { value: "hf_fromPath", source: join(home, "custom-token") });
		assert.deepEqual(await findHubToken(base), { value: "hf_fromHome", source: join(home, "hf", "token") });
		assert.deepEqual(await findHubToken({ ...base, HF_TOKEN: "  " }), { value: "hf_fromHome", source: join(home, "hf", "token") });
		assert.equal(await findHubToken({ HF_HOME: join(home, "nowhere") }), undefined);
	});

	it("private repo: anonymous gets 401 with what to do; the owner's token works, sent to the Hub only", async () => {
		const cache = await tempDir();
		const anonymous = await failure(resolveHubModel("alice/private-model", "main", hubOptions(hub, cache)));
		assert.equal(anonymous.status, 401);
		assert.match(anonymous.message, /alice\/private-model@main: the Hub requires you to log in \(401: Repository not found\); the repo is private or gated, or does not exist/);
		assert.match(anonymous.hint ?? "", /HF_TOKEN=hf_\.\.\. or run `hf auth login`/);
		hub.takeRequests();
		const snap = await resolveHubModel("alice/private-model", "main", hubOptions(hub, cache, ALICE));
		assert.ok(snap.dir);
		const requests = hub.takeRequests();
		const toHub = requests.filter((r) => r.host.startsWith("127.0.0.1"));
		const toStorage = requests.filter((r) => r.host.startsWith("localhost"));
		assert.ok(toStorage.length > 0, "LFS files come from the storage origin");
		assert.ok(
			toHub.every((r) => r.authorization === `Bearer ${ALICE}`),
			"every Hub request carries the token",
		);
		assert.deepEqual(
			toStorage.filter((r) => r.authorization !== undefined),
			[],
			"the token never goes to LFS storage",
		);
		// Someone else's token sees no such repo (404), and is told so.
		const other = await failure(resolveHubModel("alice/private-model", "main", hubOptions(hub, cache, BOB)));
		assert.equal(other.status, 404);
		assert.match(other.message, /alice\/private-model: no such model repo/);
	});

	it("gated repo: 401 anonymous, 403 without access, both saying where to accept the conditions", async () => {
		const cache = await tempDir();
		const anonymous = await failure(resolveHubModel("org/gated-model", "main", hubOptions(hub, cache)));
		assert.equal(anonymous.status, 401);
		assert.match(anonymous.hint ?? "", /HF_TOKEN/);
		const denied = await failure(resolveHubModel("org/gated-model", "main", hubOptions(hub, cache, BOB)));
		assert.equal(denied.status, 403);
		assert.match(denied.message, /org\/gated-model@main: [\w.]+: the repo is gated and the account of the token from the accessToken option has not been granted access/);
		assert.match(denied.hint ?? "", new RegExp(`open ${hub.url}/org/gated-model while logged in and accept its conditions`));
		const granted = await resolveHubModel("org/gated-model", "main", hubOptions(hub, cache, CAROL));
		assert.ok(granted.commit);
	});

	it("404: a missing repo and a missing revision are told apart", async () => {
		const cache = await tempDir();
		const repo = await failure(resolveHubModel("org/no-such-model", "main", hubOptions(hub, cache, ALICE)));
		assert.equal(repo.status, 404);
		assert.match(repo.message, /org\/no-such-model: no such model repo on http:\/\/127\.0\.0\.1:\d+/);
		const revision = await failure(resolveHubModel("org/public-model", "nope", hubOptions(hub, cache)));
		assert.equal(revision.status, 404);
		assert.match(revision.message, /org\/public-model: revision "nope" does not exist/);
		assert.match(revision.hint ?? "", /branch, tag or commit/);
	});

	it("a refused token is named by where it came from, never shown, even when the server echoes it", async () => {
		const cache = await tempDir();
		const home = await tempDir();
		const stolen = "hf_revokedTokenThatMustNotLeak0123";
		hub.faults.echoToken = true;
		try {
			const error = await failure(resolveHubModel("org/public-model", "main", { hubUrl: hub.url, cacheDir: cache, env: { HF_TOKEN: stolen, HF_HOME: home } }));
			assert.equal(error.status, 401);
			assert.match(error.message, /the Hub refused the token from HF_TOKEN \(401: Invalid credentials in Authorization header \(got hf_\*\*\*\)\)/);
			assert.match(error.hint ?? "", /settings\/tokens/);
			for (const text of [error.message, error.hint ?? "", error.stack ?? "", JSON.stringify(error), String(error.cause ?? "")]) {
				assert.ok(!text.includes(stolen), "the token leaked");
			}
		} finally {
			hub.faults.echoToken = false;
		}
	});
});
