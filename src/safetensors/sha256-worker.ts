/** Worker thread body for sha256-thread.ts: running sha256 hashes by id, fed views of shared memory. */
import { type Hash, createHash } from "node:crypto";
import { parentPort } from "node:worker_threads";

const hashes = new Map<number, Hash>();

parentPort!.on("message", ({ op, id, seq, bytes }: { op: string; id: number; seq: number; bytes?: Uint8Array }) => {
	try {
		if (op === "open") hashes.set(id, createHash("sha256"));
		else if (op === "update") hashes.get(id)!.update(bytes!);
		else if (op === "digest" || op === "drop") {
			const hex = op === "digest" ? hashes.get(id)!.digest("hex") : undefined;
			hashes.delete(id);
			parentPort!.postMessage({ seq, hex });
			return;
		}
		parentPort!.postMessage({ seq });
	} catch (error) {
		parentPort!.postMessage({ seq, error: (error as Error).message });
	}
});
