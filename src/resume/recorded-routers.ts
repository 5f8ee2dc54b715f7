import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PlannedTensor } from "../plan/tensor-plan.js";
import type { ResumeRecord } from "./resume-record.js";
import { writeFileDurably } from "./write-durably.js";
import { sha256Hex } from "../util/sha256.js";

/**
 * The values of hidden-state routers, saved in the staging folder as soon as the forward pass ends, so
 * that a resumed merge writes them without running it again (minutes on big models, and what makes a
 * resume slower than a fresh merge otherwise). Float32 values of every pending part, in plan order.
 * Hidden like the record, and removed with it before the folder becomes the output.
 */
export const ROUTERS_FILE_NAME = ".moe-merge-routers.f32";

/** Writes the computed values of every pending part durably; returns what the record keeps of them. */
export async function saveRouterValues(dir: string, tensors: readonly PlannedTensor[]): Promise<NonNullable<ResumeRecord["routers"]>> {
	const chunks: Uint8Array[] = [];
	for (const tensor of tensors) {
		for (const part of tensor.parts) {
			if (part.kind !== "pending") continue;
			const values = await part.values();
			chunks.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
		}
	}
	const bytes = Buffer.concat(chunks);
	await writeFileDurably(join(dir, ROUTERS_FILE_NAME), bytes);
	return { bytes: bytes.length, sha256: sha256Hex(bytes) };
}

/**
 * The plan's tensors with their pending parts replaced by the saved values, when the file is there
 * with the recorded size and sha256 (and the plan's pending parts add up to it); undefined otherwise.
 */
export async function loadRouterValues(dir: string, tensors: readonly PlannedTensor[], recorded: ResumeRecord["routers"]): Promise<PlannedTensor[] | undefined> {
	if (!recorded) return undefined;
	const bytes = await readFile(join(dir, ROUTERS_FILE_NAME)).catch(() => undefined);
	if (!bytes || bytes.length !== recorded.bytes || sha256Hex(bytes) !== recorded.sha256) return undefined;
	// A copy: Float32Array views need 4-byte alignment, which a Buffer from the pool may not have.
	const floats = new Float32Array(new Uint8Array(bytes).buffer);
	let offset = 0;
	const replaced = tensors.map((tensor) => ({
		...tensor,
		parts: tensor.parts.map((part) => {
			if (part.kind !== "pending") return part;
			const values = floats.subarray(offset, offset + part.length);
			offset += part.length;
			return { kind: "values" as const, values, label: part.label };
		}),
	}));
	return offset === floats.length ? replaced : undefined;
}

export async function removeRouterValues(dir: string): Promise<void> {
	await rm(join(dir, ROUTERS_FILE_NAME), { force: true });
}
