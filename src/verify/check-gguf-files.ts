/**
 * The GGUF files of a checkpoint folder (`moe-merge gguf -o <folder>/…`): each header must read (a
 * truncated or padded file is caught by its tensor table), and must be exactly what moe-merge writes
 * for this checkpoint at that file type: the same metadata, the same tensor table (names, shapes,
 * types, offsets). Their bytes are checked by the lock's sha256 like any file.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { planGgufFile } from "../gguf-convert/convert-to-gguf.js";
import { layoutGguf } from "../gguf/layout.js";
import { readGgufHeader } from "../gguf/read-gguf.js";
import { GGUF_TENSOR_TYPES } from "../gguf/tensor-types.js";
import type { ModelWeights } from "../safetensors/model-weights.js";
import { type CheckpointProblem, messageWithoutPath } from "./problem.js";

/** Metadata values as comparable text (f32 values as the f32 they are). */
function comparable(value: unknown, type?: string): string {
	if (Array.isArray(value)) return `[${value.map((v) => comparable(v, type)).join(",")}]`;
	if (typeof value === "number" && !Number.isInteger(value)) return String(Math.fround(value));
	return String(value);
}

export async function checkGgufFiles(dir: string, weights: ModelWeights | undefined): Promise<{ problems: CheckpointProblem[]; checked: number }> {
	const names = (await readdir(dir)).filter((n) => n.endsWith(".gguf")).sort();
	const problems: CheckpointProblem[] = [];
	for (const name of names) {
		const path = join(dir, name);
		let header;
		try {
			header = await readGgufHeader(path);
		} catch (error) {
			problems.push({ file: name, message: messageWithoutPath(error as Error, path) });
			continue;
		}
		if (!weights) continue;
		const fileType = header.metadata.get("general.file_type");
		const type = Object.values(GGUF_TENSOR_TYPES).find((t) => t.fileType === fileType);
		if (!type) {
			problems.push({ file: name, message: `general.file_type ${String(fileType)} is not one moe-merge writes` });
			continue;
		}
		let plan;
		try {
			plan = await planGgufFile(dir, weights, { type: type.name, name: String(header.metadata.get("general.name")), alignment: header.alignment });
		} catch (error) {
			problems.push({ file: name, message: `cannot be checked against the checkpoint: ${(error as Error).message}` });
			continue;
		}
		const want = new Map(plan.metadata.map((e) => [e.key, e.value.type === "array" ? e.value.values : e.value.value]));
		if (header.alignment !== 32) want.set("general.alignment", header.alignment);
		for (const [key, value] of want) {
			if (!header.metadata.has(key)) problems.push({ file: name, message: `metadata ${key} is missing` });
			else if (comparable(header.metadata.get(key)) !== comparable(value)) problems.push({ file: name, message: `metadata ${key} differs from what the checkpoint gives` });
		}
		for (const key of header.metadata.keys()) if (!want.has(key)) problems.push({ file: name, message: `metadata ${key} is not one the checkpoint gives` });
		const layout = layoutGguf(plan.metadata, plan.tensors, header.alignment);
		const table = (t: { name: string; shape: readonly number[]; type: { name: string }; offset: number }) => `${t.name} [${t.shape.join(", ")}] ${t.type.name} @${t.offset}`;
		const expected = layout.tensors.map(table);
		const actual = header.tensors.map(table);
		if (expected.join("\n") !== actual.join("\n")) {
			const first = expected.findIndex((t, i) => t !== actual[i]);
			problems.push({ file: name, message: `tensor table differs from the checkpoint's at entry ${first}: ${actual[first] ?? "(none)"}, expected ${expected[first] ?? "(none)"}` });
		}
		if (header.fileBytes !== layout.fileBytes) problems.push({ file: name, message: `has ${header.fileBytes} bytes, the checkpoint's GGUF has ${layout.fileBytes}` });
	}
	return { problems, checked: names.length };
}
