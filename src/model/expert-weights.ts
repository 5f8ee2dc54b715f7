/**
 * Gated MLPs (routed experts, the shared expert, dense layers) read from either expert layout of the
 * architecture's description and packed for the backend: gate and up stacked into one [2I, H] matrix,
 * down [H, I]. For transformers 5's fused tensors, expert e is a contiguous slice of rows of [E·2I, H]
 * and [E·H, I], so only its bytes are read.
 */
import type { ExpertLayout, MlpProjection, OutputArchitecture } from "../architectures/output-architecture.js";
import { ModelError } from "../errors.js";
import type { ModelWeights } from "../safetensors/index.js";
import type { LinearBackend } from "./linear-backend.js";
import { siluGate } from "./silu-gate.js";
import { dtypeBytes } from "../safetensors/index.js";
import { locate, readRows, readStacked, type ReadBuffer } from "./tensor-io.js";

export interface PackedMlp {
	gateUp: unknown;
	down: unknown;
	intermediate: number;
}

/** One gated MLP's three projections (PyTorch Linear layout [out, in]). */
export interface MlpNames {
	gate: string;
	up: string;
	down: string;
}

/** The names of an MLP whose projections `name` gives. */
export function mlpNames(name: (projection: MlpProjection) => string): MlpNames {
	return { gate: name("gate_proj"), up: name("up_proj"), down: name("down_proj") };
}

/** Where one MLP's bytes come from: its own three tensors, or expert `expert` of fused [E, ...] tensors. */
export type MlpSource = { names: MlpNames } | { fused: { gateUp: string; down: string }; expert: number; experts: number };

/**
 * The layout of layer l's experts: the first (per-expert, then fused) whose router and expert 0 the
 * checkpoint has (Qwen's two layouts share the router's name).
 */
export function layoutOf(weights: ModelWeights, arch: OutputArchitecture, l: number): ExpertLayout {
	const layouts: ExpertLayout[] = arch.fusedExpertNames ? ["per-expert", "fused"] : ["per-expert"];
	const firstExpert = (layout: ExpertLayout): string => (layout === "fused" ? arch.fusedExpertNames!(l).gateUp : arch.expertTensorName(l, 0, "gate_proj"));
	const found = layouts.find((layout) => weights.has(arch.routerName(l, layout)) && weights.has(firstExpert(layout)));
	if (found) return found;
	const tried = layouts.map((layout) => `${arch.routerName(l, layout)} + ${firstExpert(layout)}`).join(", ");
	throw new ModelError(`${weights.dir}: layer ${l} has no router and experts in a known layout (looked for ${tried})`, { file: weights.dir });
}

export function expertSource(arch: OutputArchitecture, layout: ExpertLayout, l: number, e: number, experts: number): MlpSource {
	if (layout === "per-expert") return { names: mlpNames((p) => arch.expertTensorName(l, e, p)) };
	return { fused: arch.fusedExpertNames!(l), expert: e, experts };
}

export async function packMlp(weights: ModelWeights, source: MlpSource, hidden: number, intermediate: number, backend: LinearBackend, buffer: ReadBuffer): Promise<PackedMlp> {
	const H = hidden;
	const I = intermediate;
	const gateUpRaw = "names" in source
		? await readStacked(weights, [{ name: source.names.gate, rows: I }, { name: source.names.up, rows: I }], H, buffer)
		: await readSlice(weights, source.fused.gateUp, [source.experts, 2 * I, H], source.expert, buffer);
	const gateUp = await backend.packLinear(gateUpRaw.bytes, gateUpRaw.dtype, 2 * I, H);
	try {
		const downRaw = "names" in source
			? await readStacked(weights, [{ name: source.names.down, rows: H }], I, buffer)
			: await readSlice(weights, source.fused.down, [source.experts, H, I], source.expert, buffer);
		return { gateUp, down: await backend.packLinear(downRaw.bytes, downRaw.dtype, H, I), intermediate: I };
	} catch (error) {
		backend.free(gateUp);
		throw error;
	}
}

export function freeMlp(backend: LinearBackend, mlp: PackedMlp): void {
	backend.free(mlp.gateUp);
	backend.free(mlp.down);
}

/** down(silu(gate(x)) * up(x)) of `rows` rows of x [rows, H]: [rows, H]. */
export async function runMlp(x: Float32Array, rows: number, mlp: PackedMlp, backend: LinearBackend): Promise<Float32Array> {
	const gateUp = await backend.linear(x, rows, mlp.gateUp);
	const act = new Float32Array(rows * mlp.intermediate);
	siluGate(gateUp, act, rows, mlp.intermediate);
	return backend.linear(act, rows, mlp.down);
}

/** The [shape[1], shape[2]] slice `index` of a 3-D tensor, as raw bytes. */
async function readSlice(weights: ModelWeights, name: string, shape: [number, number, number], index: number, buffer: ReadBuffer) {
	const location = locate(weights, name, shape);
	const [, rows, cols] = shape;
	const bytes = await readRows(location, cols, index * rows, rows, buffer.take(rows * cols * dtypeBytes(location.dtype)));
	return { bytes, dtype: location.dtype, rows };
}
