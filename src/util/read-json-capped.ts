/**
 * Bounded reads of the JSON files and answers moe-merge parses: a file (or an answer) past its limit is
 * refused with an error naming it and the limit, after reading at most the limit (a FIFO or /dev/zero
 * behind a name, an endless answer), never buffered whole. The limits and their reasons are in
 * docs/hub.md ("Size limits").
 */
import { open } from "node:fs/promises";
import { MoeMergeError, type MoeMergeErrorOptions, ModelError } from "../errors.js";
import { formatBytes } from "./size.js";

const MB = 1_000_000;

/** A limit and what it bounds, for the error message. */
export interface JsonLimit {
	bytes: number;
	what: string;
}

/** Every limit in one table (real sizes in the comments; docs/hub.md repeats them). */
export const JSON_LIMITS = {
	/** config.json, generation_config.json, adapter_config.json: real ones are 1-10 KB, the largest under 1 MB. */
	config: { bytes: 16 * MB, what: "a model config" },
	/** tokenizer_config.json, special_tokens_map.json, added_tokens.json, chat_template.json: up to a few MB with ~100k added tokens. */
	tokenizerConfig: { bytes: 32 * MB, what: "a tokenizer config" },
	/** tokenizer.json: the largest real ones are ~33 MB (Gemma 3, 262k tokens); four times that. */
	tokenizer: { bytes: 128 * MB, what: "a tokenizer" },
	/** model.safetensors.index.json: ~9 MB for DeepSeek-V3's 92k tensors. */
	weightIndex: { bytes: 64 * MB, what: "a safetensors index" },
	/** One answer of the Hub's API (model info, a 1000-entry page of a file listing): a few hundred KB. */
	hubApi: { bytes: 16 * MB, what: "an answer of the Hub's API" },
	/** An error page: we quote at most 300 characters of it. */
	hubError: { bytes: 1 * MB, what: "an error page" },
} as const satisfies Record<string, JsonLimit>;

/** The limit of a model file moe-merge parses as JSON, by its name; undefined for other files. */
export function jsonFileLimit(name: string): JsonLimit | undefined {
	if (name === "tokenizer.json") return JSON_LIMITS.tokenizer;
	if (name === "model.safetensors.index.json") return JSON_LIMITS.weightIndex;
	if (["config.json", "generation_config.json", "adapter_config.json"].includes(name)) return JSON_LIMITS.config;
	if (name.endsWith(".json")) return JSON_LIMITS.tokenizerConfig;
	return undefined;
}

type ErrorClass = new (message: string, options?: MoeMergeErrorOptions) => MoeMergeError;

export interface CappedReadOptions {
	/** The error to throw (default ModelError). */
	error?: ErrorClass;
	/** Attached to the errors. */
	hint?: string;
}

/**
 * The text of a file or a response body, read up to `limit.bytes`. A file is checked by its size first;
 * either is read in pieces and refused as soon as it passes the limit.
 */
export async function readTextCapped(source: string | Response, limit: JsonLimit, name: string, options: CappedReadOptions = {}): Promise<string> {
	const bytes = typeof source === "string" ? await readFileCapped(source, limit, options) : await readResponseCapped(source, limit, name, options);
	return bytes.toString("utf8");
}

/** The parsed JSON of a file or a response body, read up to `limit.bytes`; invalid JSON is an error naming it (never quoting it). */
export async function readJsonCapped(source: string | Response, limit: JsonLimit, name = typeof source === "string" ? source : source.url, options: CappedReadOptions = {}): Promise<unknown> {
	const text = await readTextCapped(source, limit, name, options);
	try {
		return JSON.parse(text);
	} catch (cause) {
		const where = /position \d+/.exec((cause as Error).message)?.[0];
		throw new (options.error ?? ModelError)(`${name}: not valid JSON${where ? ` (at ${where})` : ""}`, { file: typeof source === "string" ? source : undefined, hint: options.hint });
	}
}

function overLimit(name: string, limit: JsonLimit, size: string, options: CappedReadOptions, file?: string): MoeMergeError {
	return new (options.error ?? ModelError)(`${name}: ${size}, over the ${formatBytes(limit.bytes)} limit for ${limit.what}; refusing to read it`, {
		file,
		hint: options.hint ?? "the file is not what its name says (damaged, or a hostile copy); fetch it again",
	});
}

async function readFileCapped(path: string, limit: JsonLimit, options: CappedReadOptions): Promise<Buffer> {
	const handle = await open(path, "r");
	try {
		const info = await handle.stat();
		if (info.isFile() && info.size > limit.bytes) throw overLimit(path, limit, `${formatBytes(info.size)}`, options, path);
		// Not a regular file (or growing): read no more than the limit and one byte.
		const chunks: Buffer[] = [];
		let total = 0;
		for (;;) {
			const piece = Buffer.allocUnsafe(Math.min(1 << 20, limit.bytes + 1 - total));
			const { bytesRead } = await handle.read(piece, 0, piece.length, null);
			if (bytesRead === 0) break;
			chunks.push(piece.subarray(0, bytesRead));
			total += bytesRead;
			if (total > limit.bytes) throw overLimit(path, limit, "larger than that", options, path);
		}
		return Buffer.concat(chunks, total);
	} finally {
		await handle.close();
	}
}

async function readResponseCapped(response: Response, limit: JsonLimit, name: string, options: CappedReadOptions): Promise<Buffer> {
	const declared = Number(response.headers.get("content-length"));
	if (declared > limit.bytes) {
		await response.body?.cancel().catch(() => {});
		throw overLimit(name, limit, `${formatBytes(declared)} announced`, options);
	}
	const chunks: Buffer[] = [];
	let total = 0;
	if (response.body) {
		const reader = response.body.getReader();
		try {
			for (;;) {
				const { done, value } = await reader.read();
				if (done) break;
				total += value.byteLength;
				if (total > limit.bytes) throw overLimit(name, limit, "larger than that", options);
				chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
			}
		} finally {
			reader.cancel().catch(() => {});
		}
	}
	return Buffer.concat(chunks, total);
}
