/**
 * A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (commands on fd 3, replies and
 * events on fd 4, each message NUL-terminated JSON), for testing report.html in a real browser without
 * an npm dependency. One page, attached with a flat session.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export interface CdpEvent {
	method: string;
	params: Record<string, unknown>;
	sessionId?: string;
}

/** The chromium binary, or undefined when it is not installed. */
export function findChromium(): string | undefined {
	for (const name of ["chromium", "chromium-browser"]) {
		const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
		if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
	}
	return undefined;
}

export class HeadlessPage {
	readonly events: CdpEvent[] = [];
	private nextId = 1;
	private pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
	private waiters: { method: string; resolve: (e: CdpEvent) => void }[] = [];
	private sessionId?: string;

	private constructor(private readonly child: ChildProcess, private readonly profile: string) {
		const output = child.stdio[4] as Readable;
		let buffered = Buffer.alloc(0);
		output.on("data", (chunk: Buffer) => {
			buffered = Buffer.concat([buffered, chunk]);
			let end: number;
			while ((end = buffered.indexOf(0)) >= 0) {
				this.dispatch(JSON.parse(buffered.subarray(0, end).toString("utf8")) as Record<string, unknown>);
				buffered = buffered.subarray(end + 1);
			}
		});
		child.on("exit", () => {
			for (const p of this.pending.values()) p.reject(new Error("chromium exited"));
			this.pending.clear();
		});
	}

	static async launch(binary: string): Promise<HeadlessPage> {
		const profile = await mkdtemp(join(tmpdir(), "moe-merge-chromium-"));
		const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank"];
		const child = spawn(binary, flags, { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
		const page = new HeadlessPage(child, profile);
		const { targetInfos } = (await page.send("Target.getTargets")) as { targetInfos: { targetId: string; type: string }[] };
		const target = targetInfos.find((t) => t.type === "page") ?? ((await page.send("Target.createTarget", { url: "about:blank" })) as { targetId: string });
		const { sessionId } = (await page.send("Target.attachToTarget", { targetId: target.targetId, flatten: true })) as { sessionId: string };
		page.sessionId = sessionId;
		return page;
	}

	/** A command to the browser, or to the page once attached. */
	send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
		const id = this.nextId++;
		const message = { id, method, params, ...(this.sessionId && { sessionId: this.sessionId }) };
		return new Promise((resolve, reject) => {
			this.pending.set(id, { resolve, reject });
			(this.child.stdio[3] as Writable).write(`${JSON.stringify(message)}\0`);
		});
	}

	/** The next event `method` (one already received counts only if asked before it arrived). */
	waitFor(method: string): Promise<CdpEvent> {
		return new Promise((resolve) => this.waiters.push({ method, resolve }));
	}

	/** The value of a page expression (awaited if it is a promise). */
	async evaluate<T>(expression: string): Promise<T> {
		const reply = (await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })) as { result: { value: T }; exceptionDetails?: unknown };
		if (reply.exceptionDetails) throw new Error(`page expression failed: ${JSON.stringify(reply.exceptionDetails)}`);
		return reply.result.value;
	}

	async close(): Promise<void> {
		const running = this.child.exitCode === null && this.child.signalCode === null;
		const exited = new Promise((resolve) => this.child.once("exit", resolve));
		if (running) {
			this.child.kill();
			await exited;
		}
		// Chromium's helper processes may still be writing into the profile for a moment after it exits.
		await rm(this.profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
	}

	private dispatch(message: Record<string, unknown>): void {
		if (typeof message.id === "number") {
			const p = this.pending.get(message.id);
			this.pending.delete(message.id);
			if (message.error) p?.reject(new Error(`${JSON.stringify(message.error)}`));
			else p?.resolve((message.result ?? {}) as Record<string, unknown>);
			return;
		}
		const event = message as unknown as CdpEvent;
		this.events.push(event);
		this.waiters = this.waiters.filter((w) => {
			if (w.method !== event.method) return true;
			w.resolve(event);
			return false;
		});
	}
}
