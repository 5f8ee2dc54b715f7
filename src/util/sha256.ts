import { createHash } from "node:crypto";

/** sha256 of text (as UTF-8) or bytes, in hex, as lock and resume records spell it. */
export function sha256Hex(data: string | Uint8Array): string {
	return createHash("sha256").update(data).digest("hex");
}
