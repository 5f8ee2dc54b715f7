import { type Hash, createHash } from "node:crypto";
import { feedFile } from "../util/sha256.js";

/**
 * The hash the Hub names a file by: sha256 of the content for LFS files, git's blob sha1
 * (sha1 of "blob {size}\0" + content) for the others. Fed as bytes arrive, so a download is
 * checked without reading it again.
 */
export class ContentHash {
	private hash: Hash;
	/** Bytes fed so far. */
	bytes = 0;

	private constructor(
		readonly algorithm: "sha256" | "git-sha1",
		private readonly size: number,
	) {
		this.hash = this.fresh();
	}

	static sha256(): ContentHash {
		return new ContentHash("sha256", 0);
	}

	static gitBlob(size: number): ContentHash {
		return new ContentHash("git-sha1", size);
	}

	update(chunk: Uint8Array): void {
		this.hash.update(chunk);
		this.bytes += chunk.byteLength;
	}

	/** Starts over (a resumed file whose first part must be read again). */
	reset(): void {
		this.hash = this.fresh();
		this.bytes = 0;
	}

	digest(): string {
		return this.hash.digest("hex");
	}

	private fresh(): Hash {
		const hash = createHash(this.algorithm === "sha256" ? "sha256" : "sha1");
		if (this.algorithm === "git-sha1") hash.update(`blob ${this.size}\0`);
		return hash;
	}
}

/** Feeds the first `end` bytes of a file (all of it by default) into a hash. */
export async function hashFileInto(path: string, hash: ContentHash, end?: number): Promise<void> {
	await feedFile(path, (chunk) => hash.update(chunk), end);
}
