import type { Piece, RangeReader } from "./range-reader.js";

/** A read the merge will make, in the order it makes them: bytes [start, end) of a range-read file. */
export interface PlannedRead {
	reader: RangeReader;
	start: number;
	end: number;
}

export interface PrefetchOptions {
	/** Memory for fetched bytes not consumed yet, all files together (default 256 MiB). */
	budgetBytes?: number;
	/** Range requests in flight at once, each on another file (default 4). */
	maxInFlight?: number;
	/** Largest range asked for at once (default 64 MiB). */
	pieceBytes?: number;
	/** A gap up to this between two reads of a file is fetched with them (and hashed) rather than left out (default 16 MiB). */
	gapBytes?: number;
}

const DEFAULTS = { budgetBytes: 256 << 20, maxInFlight: 4, pieceBytes: 64 << 20, gapBytes: 16 << 20 };

/**
 * The reads of a merge known in advance (from its tensor plan), fetched ahead: batched into large
 * ranges in file order (reads close together in a file and in time become one request; a small gap
 * between two ranges of a file is fetched too, so the file's hash can go on), several requests in
 * flight on different files, within a memory budget. A range is dropped once every planned byte in it
 * was read. The ranges of one file are fetched one after the other, in order of use, so a file whose
 * bytes are used in file order is hashed as it streams. Reads that were not planned, or come after the
 * budget ran out, go through the reader's own answers as before.
 */
export class RangePrefetch {
	private readonly pieces: Piece[];
	private next = 0;
	private inFlight = 0;
	private held = 0;
	private readonly busy = new Set<RangeReader>();
	private readonly options: Required<PrefetchOptions>;
	private closed = false;

	constructor(reads: readonly PlannedRead[], options: PrefetchOptions = {}) {
		this.options = { ...DEFAULTS, ...options };
		this.pieces = batchReads(reads, this.options);
	}

	/** Starts fetching; the readers serve planned reads from the pieces. */
	start(): void {
		this.pump();
	}

	/** Drops every piece not consumed (a merge that stopped early) and fetches nothing more. */
	close(): void {
		this.closed = true;
		for (const piece of this.pieces) piece.reader.detach(piece);
	}

	/** Pieces planned, and their bytes (for tests and figures). */
	get planned(): { pieces: number; bytes: number } {
		return { pieces: this.pieces.length, bytes: this.pieces.reduce((sum, p) => sum + p.end - p.start, 0) };
	}

	private pump(): void {
		while (!this.closed && this.next < this.pieces.length) {
			const piece = this.pieces[this.next];
			const size = piece.end - piece.start;
			// In order of use: a piece waits for the one before it on its file (file order hashing) and for room.
			if (this.inFlight >= this.options.maxInFlight || this.busy.has(piece.reader)) return;
			if (this.held > 0 && this.held + size > this.options.budgetBytes) return;
			this.next++;
			this.inFlight++;
			this.held += size;
			this.busy.add(piece.reader);
			piece.reader.attach(piece, () => {
				this.held -= size;
				this.pump();
			});
			const done = () => this.fetched(piece);
			piece.data!.then(done, done);
		}
	}

	private fetched(piece: Piece): void {
		this.inFlight--;
		this.busy.delete(piece.reader);
		this.pump();
	}
}

/**
 * Groups the reads into pieces, in order of first use: a read joins the last piece of its file when
 * the read before it was of that file too (a piece is used for a short while, then dropped: a merge
 * reads a layer's experts projection by projection, so a range joining one expert's gate_proj to its
 * up_proj would wait in memory while every other expert's gate_proj is read) and the piece can grow to
 * cover it (gap at most gapBytes, size at most pieceBytes); a read larger than a piece is split. A
 * piece starting a small gap after its file's previous one starts where that ended.
 */
export function batchReads(reads: readonly PlannedRead[], options: Required<PrefetchOptions>): Piece[] {
	const pieces: Piece[] = [];
	const last = new Map<RangeReader, Piece>();
	const lastEnd = new Map<RangeReader, number>();
	let previous: RangeReader | undefined;
	for (const read of reads) {
		const consecutive = previous === read.reader;
		previous = read.reader;
		for (let start = read.start; start < read.end; ) {
			const end = Math.min(read.end, start + options.pieceBytes);
			const piece = consecutive ? last.get(read.reader) : undefined;
			const from = piece ? Math.min(piece.start, start) : 0;
			const to = piece ? Math.max(piece.end, end) : 0;
			const near = piece && start <= piece.end + options.gapBytes && end >= piece.start - options.gapBytes;
			// Bytes the piece spans already (the same tensor read twice) start a new piece: each planned byte is counted once.
			const overlaps = piece !== undefined && start < piece.end && end > piece.start;
			if (piece && near && !overlaps && to - from <= options.pieceBytes) {
				piece.start = from;
				piece.end = to;
				piece.remaining += end - start;
			} else {
				const before = lastEnd.get(read.reader) ?? read.reader.hashedBytes;
				const begin = before < start && start - before <= options.gapBytes && end - before <= options.pieceBytes ? before : start;
				const fresh: Piece = { reader: read.reader, start: begin, end, remaining: end - start };
				pieces.push(fresh);
				last.set(read.reader, fresh);
			}
			lastEnd.set(read.reader, Math.max(lastEnd.get(read.reader) ?? 0, end));
			start = end;
		}
	}
	return pieces;
}
