import type { ByteReader } from "../safetensors/index.js";
import { ContentHash } from "./content-hash.js";
import { isTransientHubFailure } from "./explain-hub-failure.js";
import type { HubContext } from "./hub-context.js";
import { HubError } from "./hub-error.js";
import { responseError } from "./http-error.js";
import type { HubRequestInit } from "./hub-fetch.js";
import { bodyChunks } from "./read-body.js";
import { waitToRetry } from "./wait-to-retry.js";

/** How a range-read file's content was checked: hashed as it streamed (every byte read in order), or the Hub's LFS sha256 trusted. */
export type RangeCheck = "streamed" | "hub-lfs";

/** Memory the readers of one merge may hold for bytes read past and asked for later (shared by all files). */
export class HeldBudget {
	constructor(public free: number) {}
}

export interface RangeReaderOptions {
	/** `{hub}/{repo}/resolve/{commit}/{path}`: the Hub redirects it to its storage, fetch follows. */
	url: string;
	size: number;
	/** The Hub's LFS sha256 of the file: what the bytes must hash to when they are all read in order. */
	sha256: string;
	/** `org/name@commit/file`, for messages. */
	label: string;
	/** A gap up to this many bytes between two reads is read through (and hashed) rather than asked for again (default 16 MiB). */
	readThroughBytes?: number;
	/** A larger gap up to this is read through and kept in memory, if `held` allows, for a read that goes back into it (default 512 MiB). */
	holdBytes?: number;
	held?: HeldBudget;
}

const DEFAULT_READ_THROUGH = 16 << 20;
const DEFAULT_HOLD = 512 << 20;
/** A read this small far from every open answer gets a range of its own (embedding rows of the prompts' tokens, in token order), leaving the answers where they are. */
const SMALL_READ = 1 << 20;
/** Connections open per file: the writer and the gates' forward pass may read one base file at two places. */
const MAX_CURSORS = 2;

/** One range request fetched ahead (range-prefetch.ts): [start, end) of a file, and how many of its bytes the merge will still read. */
export interface Piece {
	reader: RangeReader;
	start: number;
	end: number;
	/** Bytes of planned reads inside the piece not served yet; at 0 the piece is dropped. */
	remaining: number;
	data?: Promise<Uint8Array>;
}

/** One open `Range: bytes=start-` answer, consumed in order. */
interface Cursor {
	pos: number;
	chunks: AsyncGenerator<Uint8Array>;
	/** Bytes of the last chunk not consumed yet (they start at `pos`). */
	rest: Uint8Array;
	stop: AbortController;
	used: number;
}

/** The connection ended before the range did (undici reports that as a normal end). */
class ShortBody extends Error {
	readonly code = "ECONNRESET";
}

/**
 * A Hub file read with HTTP range requests: each read continues an open answer when it lies ahead of it
 * (the gap read through; a large gap kept in memory for a read that comes back to it), else opens a new
 * `bytes=start-` answer; a connection lost mid-range is asked again from the byte reached. The bytes are
 * hashed in file order as they pass; when every byte passed, the sha256 must be the Hub's.
 */
export class RangeReader implements ByteReader {
	private readonly cursors: Cursor[] = [];
	private readonly hash = ContentHash.sha256();
	private hashedTo = 0;
	private held: { start: number; data: Uint8Array } | undefined;
	/** Ranges fetched ahead for planned reads (range-prefetch.ts), with what to call when one is dropped. */
	private readonly pieces = new Map<Piece, () => void>();
	private queue: Promise<unknown> = Promise.resolve();
	private uses = 0;
	/** Where the last read ended: a read continuing it is sequential and goes through an open answer. */
	private lastEnd = -1;
	/** Bytes that came over the network for this file. */
	transferred = 0;
	private readonly readThrough: number;
	private readonly holdBytes: number;
	private readonly budget: HeldBudget;

	constructor(
		private readonly context: HubContext,
		private readonly options: RangeReaderOptions,
	) {
		this.readThrough = options.readThroughBytes ?? DEFAULT_READ_THROUGH;
		this.holdBytes = options.holdBytes ?? DEFAULT_HOLD;
		this.budget = options.held ?? new HeldBudget(this.holdBytes);
	}

	/** "streamed" once every byte went through the hash (and matched the Hub's sha256), else "hub-lfs". */
	get check(): RangeCheck {
		return this.hashedTo === this.options.size ? "streamed" : "hub-lfs";
	}

	/** Bytes hashed so far, from the start of the file. */
	get hashedBytes(): number {
		return this.hashedTo;
	}

	/** Fetches `piece` with one range request (hashed as it streams when it continues the hash); planned reads are served from it. */
	attach(piece: Piece, onRelease: () => void): void {
		const buffer = new Uint8Array(piece.end - piece.start);
		piece.data = this.fetchExact(buffer, piece.start).then(() => buffer);
		piece.data.catch(() => {});
		this.pieces.set(piece, onRelease);
	}

	/** Drops a piece: every planned byte in it was read, or the merge stopped. */
	detach(piece: Piece): void {
		const release = this.pieces.get(piece);
		if (!release) return;
		this.pieces.delete(piece);
		// The prefetch keeps its list of pieces: the bytes go with the promise.
		piece.data = undefined;
		release();
	}

	read(into: Uint8Array, position: number): Promise<number> {
		// One read at a time per file: the cursors and the hash are shared.
		const next = this.queue.then(() => this.readNow(into, position));
		this.queue = next.catch(() => {});
		return next;
	}

	async close(): Promise<void> {
		for (const cursor of this.cursors.splice(0)) this.closeCursor(cursor);
		this.dropHeld();
		for (const piece of [...this.pieces.keys()]) this.detach(piece);
	}

	private async readNow(into: Uint8Array, position: number): Promise<number> {
		const end = Math.min(position + into.length, this.options.size);
		if (end <= position) return 0;
		let at = position;
		at += await this.fromPieces(into, at, end);
		if (at === end) return end - position;
		at += this.fromHeld(into.subarray(at - position), at, end);
		if (at < end && end - at <= SMALL_READ && !this.near(at)) {
			await this.fetchExact(into.subarray(at - position, end - position), at);
			this.lastEnd = end;
			return end - position;
		}
		this.lastEnd = end;
		while (at < end) {
			const cursor = await this.cursorFor(at);
			const got = await this.take(cursor, into.subarray(at - position, end - position), at);
			at += got;
		}
		return end - position;
	}

	/** True when `at` continues, within a read-through gap, an open answer, the hash or the last read. */
	private near(at: number): boolean {
		const ahead = (from: number) => from <= at && at - from <= this.readThrough;
		return this.cursors.some((c) => ahead(c.pos)) || ahead(this.hashedTo) || ahead(this.lastEnd);
	}

	/** Copies what the pieces fetched ahead have of [at, end) (waiting for them to arrive); returns how many. */
	private async fromPieces(into: Uint8Array, position: number, end: number): Promise<number> {
		let at = position;
		while (at < end) {
			let found: Piece | undefined;
			for (const piece of this.pieces.keys()) {
				if (piece.start <= at && at < piece.end) {
					found = piece;
					break;
				}
			}
			if (!found) break;
			const data = await found.data!;
			const n = Math.min(end, found.end) - at;
			into.set(data.subarray(at - found.start, at - found.start + n), at - position);
			at += n;
			found.remaining -= n;
			if (found.remaining <= 0) this.detach(found);
		}
		return at - position;
	}

	/** Copies what the held bytes have of [at, end) to the start of `into`; returns how many. */
	private fromHeld(into: Uint8Array, at: number, end: number): number {
		const held = this.held;
		if (!held || at < held.start || at >= held.start + held.data.length) return 0;
		const n = Math.min(end, held.start + held.data.length) - at;
		into.set(held.data.subarray(at - held.start, at - held.start + n), 0);
		if (at + n === held.start + held.data.length) this.dropHeld();
		return n;
	}

	private dropHeld(): void {
		if (this.held) this.budget.free += this.held.data.length;
		this.held = undefined;
	}

	/** A cursor at `at`: one ahead of it by a gap worth reading through, else a new answer. */
	private async cursorFor(at: number): Promise<Cursor> {
		let best: Cursor | undefined;
		for (const c of this.cursors) if (c.pos <= at && at - c.pos <= this.holdBytes && (!best || c.pos > best.pos)) best = c;
		if (best) {
			const gap = at - best.pos;
			// A large gap is worth reading through only when it can be kept for a read that comes back to it.
			const keep = gap > this.readThrough && gap <= this.budget.free + (this.held?.data.length ?? 0);
			if (gap <= this.readThrough || keep) {
				await this.skipTo(best, at, keep && gap > 0);
				return best;
			}
		}
		// Start where the hash stands when that is close: the whole file then gets hashed.
		const start = this.hashedTo < at && at - this.hashedTo <= this.readThrough ? this.hashedTo : at;
		if (this.cursors.length >= MAX_CURSORS) {
			const oldest = this.cursors.reduce((a, b) => (a.used <= b.used ? a : b));
			this.cursors.splice(this.cursors.indexOf(oldest), 1);
			this.closeCursor(oldest);
		}
		const cursor: Cursor = { pos: start, chunks: emptyChunks(), rest: new Uint8Array(0), stop: new AbortController(), used: 0 };
		await this.open(cursor);
		this.cursors.push(cursor);
		if (start < at) await this.skipTo(cursor, at, false);
		return cursor;
	}

	/** Reads the cursor forward to `at`, hashing; keeps the bytes passed when `keep`. */
	private async skipTo(cursor: Cursor, at: number, keep: boolean): Promise<void> {
		const gap = at - cursor.pos;
		if (gap === 0) return;
		let buffer: Uint8Array | undefined;
		if (keep) {
			this.dropHeld();
			buffer = new Uint8Array(gap);
			this.budget.free -= gap;
			this.held = { start: cursor.pos, data: buffer };
		}
		const scratch = buffer ?? new Uint8Array(Math.min(gap, 1 << 20));
		let done = 0;
		while (done < gap) {
			const into = buffer ? buffer.subarray(done) : scratch.subarray(0, Math.min(scratch.length, gap - done));
			done += await this.take(cursor, into, cursor.pos);
		}
	}

	/** Fills `into` (bytes from `at` = cursor.pos) from the cursor, resuming a dropped connection; returns bytes taken. */
	private async take(cursor: Cursor, into: Uint8Array, at: number): Promise<number> {
		if (cursor.pos !== at) throw new Error(`${this.options.label}: range cursor at ${cursor.pos}, read at ${at}`);
		cursor.used = ++this.uses;
		let filled = 0;
		let attempt = 0;
		while (filled < into.length) {
			if (cursor.rest.length === 0) {
				try {
					const step = await cursor.chunks.next();
					if (step.done) throw new ShortBody(`the connection closed at byte ${cursor.pos} of ${this.options.size}`);
					cursor.rest = step.value;
					this.transferred += step.value.length;
				} catch (error) {
					if (!(await waitToRetry(this.context, error, attempt++, error instanceof ShortBody || isTransientHubFailure(error)))) throw this.describe(error);
					// Asked again from the byte reached.
					this.closeCursor(cursor);
					cursor.stop = new AbortController();
					await this.open(cursor);
					continue;
				}
			}
			const n = Math.min(cursor.rest.length, into.length - filled);
			const piece = cursor.rest.subarray(0, n);
			into.set(piece, filled);
			this.hashPiece(piece, cursor.pos);
			cursor.rest = cursor.rest.subarray(n);
			cursor.pos += n;
			filled += n;
		}
		return filled;
	}

	/** Feeds the part of [start, start + piece.length) that continues the hash. */
	private hashPiece(piece: Uint8Array, start: number): void {
		const end = start + piece.length;
		if (start > this.hashedTo || end <= this.hashedTo) return;
		this.hash.update(piece.subarray(this.hashedTo - start));
		this.hashedTo = end;
		if (this.hashedTo !== this.options.size) return;
		const actual = this.hash.digest();
		if (actual !== this.options.sha256) {
			throw new HubError(`${this.options.label} arrived corrupted: its sha256 is ${actual}, the Hub lists ${this.options.sha256}; the merge was stopped`, {
				hint: "run again; if it keeps happening, something between you and the Hub (a proxy, the mirror in HF_ENDPOINT) alters the file",
			});
		}
	}

	/** Reads exactly [at, at + into.length) with a range of its own, again from the byte reached after a dropped connection. */
	private async fetchExact(into: Uint8Array, at: number): Promise<void> {
		let got = 0;
		for (let attempt = 0; ; attempt++) {
			const stop = new AbortController();
			try {
				const from = at + got;
				const request: HubRequestInit = { headers: { range: `bytes=${from}-${at + into.length - 1}` }, signal: stop.signal, transfer: "download" };
				const response = await this.context.fetch(this.options.url, request);
				if (!response.ok) throw await responseError(response);
				// A server that ignores Range sends the whole file: skip to the position.
				let skip = response.status === 206 && response.headers.get("content-range")?.startsWith(`bytes ${from}-`) ? 0 : from;
				for await (const chunk of response.body ? bodyChunks(response.body, stop.signal) : emptyChunks()) {
					this.transferred += chunk.length;
					const part = chunk.subarray(Math.min(skip, chunk.length));
					skip -= chunk.length - part.length;
					const take = part.subarray(0, into.length - got);
					into.set(take, got);
					this.hashPiece(take, at + got);
					got += take.length;
					if (got === into.length) return;
				}
				throw new ShortBody(`the connection closed at byte ${at + got} of ${this.options.size}`);
			} catch (error) {
				if (!(await waitToRetry(this.context, error, attempt, error instanceof ShortBody || isTransientHubFailure(error)))) throw this.describe(error);
			} finally {
				stop.abort();
			}
		}
	}

	/** Opens `bytes={pos}-` for the cursor, following the Hub's redirect to its storage. */
	private async open(cursor: Cursor): Promise<void> {
		for (let attempt = 0; ; attempt++) {
			try {
				const request: HubRequestInit = { headers: { range: `bytes=${cursor.pos}-` }, signal: cursor.stop.signal, transfer: "download" };
				const response = await this.context.fetch(this.options.url, request);
				if (!response.ok) throw await responseError(response);
				const whole = response.status !== 206 || !response.headers.get("content-range")?.startsWith(`bytes ${cursor.pos}-`);
				cursor.chunks = response.body ? bodyChunks(response.body, cursor.stop.signal) : emptyChunks();
				cursor.rest = new Uint8Array(0);
				// A server that ignores Range sends the whole file: skip to the position.
				if (whole) await this.discard(cursor, cursor.pos);
				return;
			} catch (error) {
				if (!(await waitToRetry(this.context, error, attempt, isTransientHubFailure(error)))) throw this.describe(error);
			}
		}
	}

	private async discard(cursor: Cursor, bytes: number): Promise<void> {
		for (let left = bytes; left > 0; ) {
			const step = await cursor.chunks.next();
			if (step.done) throw new ShortBody(`the connection closed before byte ${cursor.pos}`);
			const n = Math.min(left, step.value.length);
			cursor.rest = step.value.subarray(n);
			left -= n;
		}
	}

	private closeCursor(cursor: Cursor): void {
		cursor.stop.abort();
		cursor.chunks.return(undefined).catch(() => {});
	}

	private describe(error: unknown): unknown {
		if (error instanceof ShortBody) return new HubError(`${this.options.label}: ${error.message} (after ${this.context.retries} retries)`, { hint: "run again with --resume" });
		const [repo, rest] = this.options.label.split("@");
		return this.context.explain(error, { repo, revision: rest?.split("/")[0], file: rest?.split("/").slice(1).join("/"), access: "read" });
	}
}

async function* emptyChunks(): AsyncGenerator<Uint8Array> {}
