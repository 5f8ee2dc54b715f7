import { readFile } from "node:fs/promises";
import { tokenFilePath } from "./cache-paths.js";
import { HubError } from "./hub-error.js";

/** An access token and where it was found, so errors can say which one was refused without showing it. */
export interface HubToken {
	value: string;
	/** `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, or the token file's path. */
	source: string;
}

/**
 * Finds the token the way huggingface_hub does: `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`),
 * then the file at `HF_TOKEN_PATH`, then `$HF_HOME/token`. Undefined when there is none (anonymous).
 */
export async function findHubToken(env: NodeJS.ProcessEnv = process.env): Promise<HubToken | undefined> {
	for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) {
		const value = cleanToken(env[name]);
		if (value) return { value, source: name };
	}
	const file = tokenFilePath(env);
	let text: string;
	try {
		text = await readFile(file, "utf8");
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return undefined;
		throw new HubError(`cannot read the Hugging Face token file ${file} (${code ?? "error"})`, {
			file,
			hint: "fix its permissions, point HF_TOKEN_PATH elsewhere, or set HF_TOKEN",
		});
	}
	const value = cleanToken(text);
	return value ? { value, source: file } : undefined;
}

/** Like huggingface_hub: surrounding whitespace and line breaks are not part of the token; empty means none. */
function cleanToken(text: string | undefined): string | undefined {
	const value = text?.replace(/[\r\n]/g, "").trim();
	return value ? value : undefined;
}
