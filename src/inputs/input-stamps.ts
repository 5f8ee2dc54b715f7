import { stat } from "node:fs/promises";
import { ModelError } from "../errors.js";
import type { ModelWeights } from "../safetensors/index.js";

/** What identifies the content of an input file without reading it again: size, modification time, inode. */
export type InputStamps = Map<string, string>;

/** Stamps of every weight file of the models, taken when they are opened. */
export async function stampInputs(weights: readonly ModelWeights[]): Promise<InputStamps> {
	const stamps: InputStamps = new Map();
	for (const w of weights) for (const file of w.shards()) stamps.set(file.path, await stampOf(file.path));
	return stamps;
}

/**
 * Refuses the merge when an input weight file was replaced, rewritten or truncated while it ran: the
 * output would mix old and new bytes. Checked before the output is renamed into place.
 */
export async function assertInputsUnchanged(stamps: InputStamps): Promise<void> {
	for (const [path, before] of stamps) {
		const now = await stampOf(path);
		if (now !== before) {
			throw new ModelError(`input ${path} changed while the merge read it (${describe(before)} before, ${describe(now)} now); the output was discarded`, {
				file: path,
				hint: "let whatever writes the model (a download, a copy, a training run) finish, then merge again",
			});
		}
	}
}

/** size:mtimeNs:inode of a file (following symlinks), or "missing". */
export async function stampOf(path: string): Promise<string> {
	return stat(path, { bigint: true }).then((s) => `${s.size}:${s.mtimeNs}:${s.ino}`, () => "missing");
}

function describe(stamp: string): string {
	if (stamp === "missing") return "missing";
	const [size, mtimeNs] = stamp.split(":");
	return `${size} bytes, modified ${new Date(Number(BigInt(mtimeNs!) / 1_000_000n)).toISOString()}`;
}
