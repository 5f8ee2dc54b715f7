/**
 * A small Hugging Face Hub on 127.0.0.1 for the tests: the endpoints @huggingface/hub and our downloader
 * call, answering as the real Hub does (status codes, X-Error-Code, ETag / X-Linked-Etag / X-Repo-Commit
 * headers, LFS redirects, Range requests). LFS storage is served from `localhost` on the same port, a
 * different origin, like the Hub's CDN: so the tests can check that the token never goes there.
 * Faults can be injected: a download cut mid-file, a corrupted object, an upload that drops.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type DiskObject, HubStore, type StoredFile, type StoredRepo, diskFile, isLfsPath, objectSize, sha256, storedFile } from "./hub-store.js";

export interface Account {
	user: string;
	role?: "read" | "write";
	orgs?: string[];
}

export interface LoggedRequest {
	method: string;
	host: string;
	path: string;
	range?: string;
	authorization?: string;
}

export interface HubFaults {
	/** sha256 or git oid -> cut the connection after this many bytes, this many times. */
	cut: Map<string, { afterBytes: number; times: number }>;
	/** Objects (sha256 or oid) served with one byte flipped. */
	corrupt: Set<string>;
	/** sha256 -> uploads of it that drop the connection (after the other uploads of the batch are stored). */
	failUpload: Map<string, number>;
	/** Put the token back into 401 error bodies, as a careless proxy might. */
	echoToken: boolean;
	/** File bodies are sent 64 KiB at a time with this pause between pieces (0: at once), to catch a download in flight. */
	chunkDelayMs: number;
	/**
	 * A hostile server's answer: called first for every request (after logging); returns true when it has
	 * taken the request over (answered, stalled, or left it hanging).
	 */
	intercept?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
}

export class HubServer {
	readonly store = new HubStore();
	readonly accounts = new Map<string, Account>();
	readonly requests: LoggedRequest[] = [];
	/** File content bytes written to clients (resolve and LFS downloads), to assert what a command moves. */
	bytesServed = 0;
	readonly faults: HubFaults = { cut: new Map(), corrupt: new Set(), failUpload: new Map(), echoToken: false, chunkDelayMs: 0 };
	/** The Hub's origin (HF_ENDPOINT). */
	url = "";
	/** The LFS storage origin (same server, other host name). */
	lfsUrl = "";
	private server: Server;
	/** Objects the last LFS batch asked to upload. */
	private pendingUploads = new Set<string>();

	/** Where uploaded LFS objects are written (a benchmark's gigabytes); unset: kept in memory. */
	private spoolDir: string | undefined;

	private constructor() {
		this.server = createServer((req, res) => {
			this.handle(req, res).catch((error) => {
				if (!res.headersSent) json(res, 500, { error: String(error) });
				else res.destroy();
			});
		});
	}

	static async start(accounts: Record<string, Account> = {}, options: { spoolDir?: string } = {}): Promise<HubServer> {
		const hub = new HubServer();
		hub.spoolDir = options.spoolDir;
		for (const [token, account] of Object.entries(accounts)) hub.accounts.set(token, account);
		hub.server.listen(0, "127.0.0.1");
		await once(hub.server, "listening");
		const { port } = hub.server.address() as AddressInfo;
		hub.url = `http://127.0.0.1:${port}`;
		hub.lfsUrl = `http://localhost:${port}`;
		return hub;
	}

	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise((resolve) => this.server.close(resolve));
	}

	/** Requests seen since the last call, then forgotten. */
	takeRequests(): LoggedRequest[] {
		return this.requests.splice(0);
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? "/", this.url);
		const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
		const auth = req.headers.authorization;
		this.requests.push({ method: req.method ?? "GET", host: req.headers.host ?? "", path: url.pathname + url.search, range: req.headers.range, authorization: auth });
		if (this.faults.intercept?.(req, res, url)) return;
		if (parts[0] === "lfs") return this.serveLfs(req, res, parts[1]);
		if (parts[0] === "lfs-upload") return this.receiveLfs(req, res, `${parts[1]}/${parts[2]}`, parts[3]);

		const token = auth?.startsWith("Bearer ") ? auth.slice(7) : undefined;
		const account = token ? this.accounts.get(token) : undefined;
		if (token && !account) {
			return json(res, 401, { error: `Invalid credentials in Authorization header${this.faults.echoToken ? ` (got ${token})` : ""}` });
		}
		const route = `${req.method} ${parts.join("/")}`;
		if (route === "GET api/whoami-v2") return this.whoami(res, account);
		if (route === "POST api/repos/create") return this.createRepo(req, res, account);
		if (parts[0] === "api" && parts[1] === "models") {
			const id = `${parts[2]}/${parts[3]}`;
			const [action, rev, ...rest] = parts.slice(4);
			if (req.method === "GET" && action === "revision") return this.modelInfo(res, id, rev, account);
			if (req.method === "GET" && action === "tree") return this.tree(res, id, rev, rest.join("/"), account);
			if (req.method === "POST" && action === "preupload") return this.preupload(req, res, id, account);
			if (req.method === "POST" && action === "commit") return this.commit(req, res, id, rev, account);
			if (req.method === "POST" && action === "branch") return this.createBranch(req, res, id, rev, account);
		}
		if (req.method === "POST" && parts[1]?.endsWith(".git") && parts.slice(2).join("/") === "info/lfs/objects/batch") {
			return this.lfsBatch(req, res, `${parts[0]}/${parts[1].slice(0, -4)}`, account);
		}
		if ((req.method === "GET" || req.method === "HEAD") && parts[2] === "resolve") {
			return this.resolveFile(req, res, `${parts[0]}/${parts[1]}`, parts[3], parts.slice(4).join("/"), account);
		}
		json(res, 404, { error: `test hub: no route ${route}` });
	}

	// --- access rules, as the Hub applies them -------------------------------------------------------

	/** The repo if the account may see it; otherwise an error was sent and undefined returned. */
	private readable(res: ServerResponse, id: string, account: Account | undefined): StoredRepo | undefined {
		const repo = this.store.repos.get(id);
		if (!repo || (repo.private && !this.owns(account, id))) {
			// Private and missing repos look the same; anonymous callers get 401.
			json(res, account ? 404 : 401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
			return undefined;
		}
		return repo;
	}

	private writable(res: ServerResponse, id: string, account: Account | undefined): StoredRepo | undefined {
		if (!account) {
			json(res, 401, { error: "Invalid username or password." });
			return undefined;
		}
		const repo = this.readable(res, id, account);
		if (repo && (!this.owns(account, id) || account.role === "read")) {
			json(res, 403, { error: `You don't have the rights to write to ${id}` });
			return undefined;
		}
		return repo;
	}

	private owns(account: Account | undefined, id: string): boolean {
		const namespace = id.split("/")[0];
		return account !== undefined && (account.user === namespace || (account.orgs ?? []).includes(namespace));
	}

	private revision(res: ServerResponse, repo: StoredRepo, rev: string): string | undefined {
		const sha = this.store.resolve(repo, rev);
		if (!sha) json(res, 404, { error: `Invalid rev id: ${rev}` }, { "X-Error-Code": "RevisionNotFound" });
		return sha;
	}

	// --- read endpoints --------------------------------------------------------------------------------

	private whoami(res: ServerResponse, account: Account | undefined): void {
		if (!account) return json(res, 401, { error: "Invalid credentials in Authorization header" });
		json(res, 200, {
			type: "user",
			id: `id-${account.user}`,
			name: account.user,
			fullname: account.user,
			orgs: (account.orgs ?? []).map((name) => ({ type: "org", name })),
			auth: { type: "access_token", accessToken: { displayName: "test", role: account.role ?? "write" } },
		});
	}

	private modelInfo(res: ServerResponse, id: string, rev: string, account: Account | undefined): void {
		const repo = this.readable(res, id, account);
		if (!repo) return;
		const sha = this.revision(res, repo, rev);
		if (!sha) return;
		json(res, 200, {
			_id: `id-${id}`,
			id,
			private: repo.private,
			gated: repo.gated,
			disabled: false,
			downloads: 0,
			likes: 0,
			lastModified: new Date(0).toISOString(),
			pipeline_tag: "text-generation",
			sha,
			siblings: [...(repo.commits.get(sha) as Map<string, StoredFile>).keys()].map((rfilename) => ({ rfilename })),
		});
	}

	private tree(res: ServerResponse, id: string, rev: string, folder: string, account: Account | undefined): void {
		const repo = this.readable(res, id, account);
		if (!repo) return;
		const sha = this.revision(res, repo, rev);
		if (!sha) return;
		const entries: unknown[] = [];
		const folders = new Set<string>();
		const prefix = folder ? `${folder}/` : "";
		for (const [path, file] of repo.commits.get(sha) as Map<string, StoredFile>) {
			if (!path.startsWith(prefix)) continue;
			const rest = path.slice(prefix.length);
			if (rest.includes("/")) {
				const sub = prefix + rest.split("/")[0];
				if (!folders.has(sub)) entries.push({ type: "directory", oid: "0".repeat(40), size: 0, path: sub });
				folders.add(sub);
				continue;
			}
			entries.push({
				type: "file",
				oid: file.oid,
				size: file.size,
				path,
				...(file.lfs && { lfs: { oid: file.sha256, size: file.size, pointerSize: 134 } }),
			});
		}
		json(res, 200, entries);
	}

	private resolveFile(req: IncomingMessage, res: ServerResponse, id: string, rev: string, path: string, account: Account | undefined): void {
		const repo = this.readable(res, id, account);
		if (!repo) return;
		if (repo.gated && !(account && (this.owns(account, id) || repo.granted.has(account.user)))) {
			const message = `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`;
			return json(res, account ? 403 : 401, { error: message }, { "X-Error-Code": "GatedRepo" });
		}
		const sha = this.revision(res, repo, rev);
		if (!sha) return;
		const file = repo.commits.get(sha)?.get(path);
		if (!file) return json(res, 404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha });
		const headers = { "X-Repo-Commit": sha, ETag: `"${file.oid}"` };
		if (file.lfs) {
			res.writeHead(302, {
				...headers,
				"X-Linked-Etag": `"${file.sha256}"`,
				"X-Linked-Size": String(file.size),
				Location: `${this.lfsUrl}/lfs/${file.sha256}`,
			});
			res.end();
			return;
		}
		this.serveBytes(req, res, file.data, file.oid, headers);
	}

	private serveLfs(req: IncomingMessage, res: ServerResponse, hash: string): void {
		const data = this.store.lfsObjects.get(hash);
		if (!data) return json(res, 404, { error: "no such object" });
		if (!Buffer.isBuffer(data)) return this.serveFile(req, res, data, { ETag: `"${hash}"` });
		this.serveBytes(req, res, data, hash, { ETag: `"${hash}"` });
	}

	/** An object on disk, honouring `Range: bytes=a-[b]` (no injected faults). */
	private serveFile(req: IncomingMessage, res: ServerResponse, object: DiskObject, headers: Record<string, string>): void {
		const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
		const start = range ? Number(range[1]) : 0;
		const end = range?.[2] ? Math.min(Number(range[2]), object.size - 1) : object.size - 1;
		if (start >= object.size) {
			res.writeHead(416, { ...headers, "Content-Range": `bytes */${object.size}` });
			return void res.end();
		}
		res.writeHead(range ? 206 : 200, {
			...headers,
			"Accept-Ranges": "bytes",
			"Content-Length": String(end + 1 - start),
			"Content-Type": "application/octet-stream",
			...(range && { "Content-Range": `bytes ${start}-${end}/${object.size}` }),
		});
		if (req.method === "HEAD") return void res.end();
		const stream = createReadStream(object.path, { start, end });
		stream.on("data", (chunk) => (this.bytesServed += chunk.length));
		pipeline(stream, res).catch(() => {});
	}

	/** The bytes, honouring `Range: bytes=a-[b]`, with the injected faults. */
	private serveBytes(req: IncomingMessage, res: ServerResponse, content: Buffer, key: string, headers: Record<string, string>): void {
		let data = content;
		if (this.faults.corrupt.has(key)) {
			data = Buffer.from(content);
			data[data.length >> 1] ^= 0xff;
		}
		let start = 0;
		let end = data.length - 1;
		let status = 200;
		const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
		if (range) {
			start = Number(range[1]);
			end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
			if (start >= data.length) {
				res.writeHead(416, { ...headers, "Content-Range": `bytes */${data.length}` });
				res.end();
				return;
			}
			status = 206;
		}
		const body = data.subarray(start, end + 1);
		res.writeHead(status, {
			...headers,
			"Accept-Ranges": "bytes",
			"Content-Length": String(body.length),
			"Content-Type": "application/octet-stream",
			...(status === 206 && { "Content-Range": `bytes ${start}-${end}/${data.length}` }),
		});
		if (req.method === "HEAD") return void res.end();
		this.bytesServed += body.length;
		const cut = this.faults.cut.get(key);
		if (cut && cut.times > 0 && body.length > cut.afterBytes) {
			cut.times--;
			res.write(body.subarray(0, cut.afterBytes), () => setTimeout(() => res.destroy(), 20));
			return;
		}
		if (this.faults.chunkDelayMs > 0) return void this.trickle(res, body);
		res.end(body);
	}

	private async trickle(res: ServerResponse, body: Buffer): Promise<void> {
		for (let at = 0; at < body.length && !res.destroyed; at += 65536) {
			res.write(body.subarray(at, at + 65536));
			await new Promise((resolve) => setTimeout(resolve, this.faults.chunkDelayMs));
		}
		res.end();
	}

	// --- write endpoints -------------------------------------------------------------------------------

	private async createRepo(req: IncomingMessage, res: ServerResponse, account: Account | undefined): Promise<void> {
		const body = JSON.parse(await readBody(req));
		if (!account) return json(res, 401, { error: "Invalid username or password." });
		const id = `${body.organization ?? account.user}/${body.name}`;
		if (!this.owns(account, id) || account.role === "read") return json(res, 403, { error: `You don't have the rights to create a model under ${id.split("/")[0]}` });
		if (this.store.repos.has(id)) return json(res, 409, { error: "You already created this model repo", url: `${this.url}/${id}` });
		this.store.createRepo(id, { private: body.visibility === "private" || body.private === true });
		json(res, 200, { url: `${this.url}/${id}`, name: id, id: `id-${id}` });
	}

	private async createBranch(req: IncomingMessage, res: ServerResponse, id: string, branch: string, account: Account | undefined): Promise<void> {
		const body = JSON.parse((await readBody(req)) || "{}");
		const repo = this.writable(res, id, account);
		if (!repo) return;
		if (repo.refs.has(branch)) return json(res, 409, { error: "Reference already exists" });
		const from = this.store.resolve(repo, body.startingPoint ?? "main");
		if (!from) return json(res, 404, { error: `Invalid rev id: ${body.startingPoint}` }, { "X-Error-Code": "RevisionNotFound" });
		repo.refs.set(branch, from);
		json(res, 200, {});
	}

	private async preupload(req: IncomingMessage, res: ServerResponse, id: string, account: Account | undefined): Promise<void> {
		const body = JSON.parse(await readBody(req));
		if (!this.writable(res, id, account)) return;
		json(res, 200, {
			files: body.files.map((f: { path: string; size: number }) => ({ path: f.path, uploadMode: isLfsPath(f.path, f.size) ? "lfs" : "regular", shouldIgnore: false })),
		});
	}

	private async lfsBatch(req: IncomingMessage, res: ServerResponse, id: string, account: Account | undefined): Promise<void> {
		const body = JSON.parse(await readBody(req));
		const repo = this.writable(res, id, account);
		if (!repo) return;
		this.pendingUploads = new Set();
		const objects = body.objects.map((o: { oid: string; size: number }) => {
			if (repo.lfs.has(o.oid)) return { oid: o.oid, size: o.size };
			this.pendingUploads.add(o.oid);
			return { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${this.lfsUrl}/lfs-upload/${id}/${o.oid}`, header: {} } } };
		});
		json(res, 200, { transfer: "basic", objects }, { "Content-Type": "application/vnd.git-lfs+json" });
	}

	private async receiveLfs(req: IncomingMessage, res: ServerResponse, id: string, oid: string): Promise<void> {
		const failures = this.faults.failUpload.get(oid) ?? 0;
		if (failures > 0) {
			this.faults.failUpload.set(oid, failures - 1);
			// Drop once the other uploads of the batch are in, so which files remain is deterministic.
			for (let waited = 0; waited < 3000 && [...this.pendingUploads].some((o) => o !== oid); waited += 10) {
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
			req.socket.destroy();
			return;
		}
		const data = this.spoolDir ? await spool(req, join(this.spoolDir, oid)) : Buffer.from(await readBody(req, true));
		if (!data) return json(res, 400, { error: "sha256 mismatch" });
		if (Buffer.isBuffer(data) && sha256(data) !== oid) return json(res, 400, { error: "sha256 mismatch" });
		this.store.lfsObjects.set(oid, data);
		this.store.mustGet(id).lfs.add(oid);
		this.pendingUploads.delete(oid);
		res.writeHead(200, { ETag: `"${oid}"` });
		res.end();
	}

	private async commit(req: IncomingMessage, res: ServerResponse, id: string, branch: string, account: Account | undefined): Promise<void> {
		const lines = (await readBody(req))
			.split("\n")
			.filter(Boolean)
			.map((line) => JSON.parse(line));
		const repo = this.writable(res, id, account);
		if (!repo) return;
		if (!repo.refs.has(branch)) return json(res, 404, { error: `Invalid rev id: ${branch}` }, { "X-Error-Code": "RevisionNotFound" });
		const header = lines.find((l) => l.key === "header")?.value ?? {};
		if (header.parentCommit && header.parentCommit !== repo.refs.get(branch)) return json(res, 412, { error: "A commit has happened since" });
		const files: Record<string, StoredFile | null> = {};
		for (const { key, value } of lines) {
			if (key === "file") files[value.path] = storedFile(value.path, Buffer.from(value.content, value.encoding === "base64" ? "base64" : "utf8"), false);
			else if (key === "lfsFile") {
				const data = repo.lfs.has(value.oid) ? this.store.lfsObjects.get(value.oid) : undefined;
				if (!data || objectSize(data) !== value.size) return json(res, 422, { error: `LFS object ${value.oid} for ${value.path} was not uploaded` });
				files[value.path] = Buffer.isBuffer(data) ? storedFile(value.path, data, true) : diskFile(data, value.oid);
			} else if (key === "deletedFile") files[value.path] = null;
		}
		const sha = this.store.commit(id, files, branch);
		json(res, 200, { success: true, commitOid: sha, commitUrl: `${this.url}/${id}/commit/${sha}`, commitMessage: header.summary, hookOutput: "" });
	}
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	const text = JSON.stringify(body);
	res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)), ...headers });
	res.end(text);
}

/** An upload written to `path` as it arrives and hashed; undefined (and no file) when its sha256 is not its name's. */
async function spool(req: IncomingMessage, path: string): Promise<DiskObject | undefined> {
	const hash = createHash("sha256");
	let size = 0;
	const temp = `${path}.part`;
	await pipeline(
		req,
		async function* (chunks: AsyncIterable<Buffer>) {
			for await (const chunk of chunks) {
				hash.update(chunk);
				size += chunk.length;
				yield chunk;
			}
		},
		createWriteStream(temp),
	);
	if (hash.digest("hex") !== path.split("/").at(-1)) {
		await rm(temp, { force: true });
		return undefined;
	}
	await rename(temp, path);
	return { path, size };
}

function readBody(req: IncomingMessage): Promise<string>;
function readBody(req: IncomingMessage, binary: true): Promise<Buffer>;
async function readBody(req: IncomingMessage, binary?: boolean): Promise<string | Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	const data = Buffer.concat(chunks);
	return binary ? data : data.toString("utf8");
}
