/** Byte progress of a download from or an upload to the Hub, reported as often as data moves. */
export interface TransferProgress {
	direction: "download" | "upload";
	/** download: bytes arriving; hash: sha256 of files before an upload; upload: bytes sent. */
	phase: "download" | "hash" | "upload";
	/** `org/name`. */
	repo: string;
	/** The file that moved last. */
	file?: string;
	/** Bytes already in the cache or already uploaded count as done. */
	bytesDone: number;
	bytesTotal: number;
	filesDone: number;
	filesTotal: number;
}

export type TransferProgressCallback = (progress: TransferProgress) => void;
