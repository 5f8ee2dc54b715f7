/** Test helpers for the forward pass: fixture paths, reading reference tensors, the backends to test. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SafetensorsFile, toFloat32 } from "../../src/safetensors/index.js";
import { ComputeEngine } from "../../src/kernels/index.js";
import { ReferenceLinearBackend, type LinearBackend } from "../../src/model/index.js";

/** Compiled tests live in .test-build/tests/model/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const FIXTURES = join(REPO_ROOT, "tests/fixtures");

/** Every float32 tensor of a reference file, plus its metadata. */
export async function readReference(path: string): Promise<{ tensors: Map<string, { shape: number[]; data: Float32Array }>; metadata: Record<string, string> }> {
	const file = await SafetensorsFile.open(path);
	try {
		const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
		for (const [name, info] of file.header.tensors) {
			const bytes = new Uint8Array(info.end - info.begin);
			await file.read(info, 0, bytes.length, bytes);
			tensors.set(name, { shape: info.shape, data: toFloat32(bytes, info.dtype, bytes.length / 4) });
		}
		return { tensors, metadata: file.header.metadata };
	} finally {
		await file.close();
	}
}

/** rel = max |Δ| / max |reference|, the fixtures' tolerance measure. */
export function relDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
	if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
	let maxDiff = 0;
	let maxRef = 0;
	for (let i = 0; i < expected.length; i++) {
		const d = Math.abs(actual[i]! - expected[i]!);
		if (!(d <= maxDiff)) maxDiff = d; // NaN sticks
		maxRef = Math.max(maxRef, Math.abs(expected[i]!));
	}
	return maxDiff / maxRef;
}

export interface NamedBackend {
	name: string;
	backend: LinearBackend;
	close(): Promise<void>;
}

/** The plain-JS reference backend and the WebAssembly kernel engine (what the product uses). */
export async function backendsToTest(): Promise<NamedBackend[]> {
	const engine = await ComputeEngine.create({ threads: 2 });
	return [
		{ name: "reference", backend: new ReferenceLinearBackend(), close: async () => {} },
		{ name: "kernels", backend: engine, close: () => engine.close() },
	];
}
