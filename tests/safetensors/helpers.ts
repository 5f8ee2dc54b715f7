/** Test helpers: temp folders and a tiny independent safetensors builder (not our writer). */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { HEADER_LENGTH_BYTES, parseHeaderLength, parseSafetensorsHeader, type SafetensorsHeader } from "../../src/safetensors/index.js";

/** Compiled tests live in .test-build/tests/safetensors/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const LLAMA_BASE_DIR = join(REPO_ROOT, "tests/fixtures/models/llama-base");
export const LLAMA_BASE_FILE = join(LLAMA_BASE_DIR, "model.safetensors");

/** A fresh folder under the OS temp dir, removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), "moe-merge-st-"));
	t.after(() => rm(dir, { recursive: true, force: true }));
	return dir;
}

export interface RawTensor {
	name: string;
	dtype: string;
	shape: number[];
	data: Uint8Array;
}

/** A valid safetensors file, laid out by hand from the format description. */
export function buildSafetensors(tensors: RawTensor[], metadata?: Record<string, string>): Uint8Array {
	const header: Record<string, unknown> = {};
	if (metadata) header.__metadata__ = metadata;
	let offset = 0;
	for (const t of tensors) {
		header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
		offset += t.data.length;
	}
	return assembleFile(JSON.stringify(header), concat(tensors.map((t) => t.data)));
}

/** Length prefix + header + data; `headerLength` overrides the prefix value. */
export function assembleFile(header: string | Uint8Array, data: Uint8Array, headerLength?: bigint): Uint8Array {
	const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
	const file = new Uint8Array(HEADER_LENGTH_BYTES + json.length + data.length);
	new DataView(file.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
	file.set(json, HEADER_LENGTH_BYTES);
	file.set(data, HEADER_LENGTH_BYTES + json.length);
	return file;
}

/** What SafetensorsFile.open does, on bytes in memory. */
export function parseInMemory(bytes: Uint8Array, file: string): SafetensorsHeader {
	const n = parseHeaderLength(bytes, bytes.length, file);
	return parseSafetensorsHeader(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + n), bytes.length, file);
}

export function concat(parts: Uint8Array[]): Uint8Array {
	const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
	let offset = 0;
	for (const p of parts) {
		out.set(p, offset);
		offset += p.length;
	}
	return out;
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
	const out = new Uint8Array(length);
	let x = seed >>> 0 || 1;
	for (let i = 0; i < length; i++) {
		x ^= x << 13;
		x ^= x >>> 17;
		x ^= x << 5;
		out[i] = x & 0xff;
	}
	return out;
}

export function f32FromBits(bits: number): number {
	const view = new DataView(new ArrayBuffer(4));
	view.setUint32(0, bits >>> 0, true);
	return view.getFloat32(0, true);
}

export function bitsFromF32(value: number): number {
	const view = new DataView(new ArrayBuffer(4));
	view.setFloat32(0, value, true);
	return view.getUint32(0, true);
}
