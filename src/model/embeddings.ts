/**
 * The embedding output for every token of every prompt, read row by row from the embedding matrix:
 * only the rows of the token ids used are read, never the whole (possibly GB-sized) matrix.
 */
import { ModelError } from "../errors.js";
import { dtypeBytes, toFloat32, type ModelWeights } from "../safetensors/index.js";
import { tensorNames, type ModelSpec } from "./model-spec.js";
import { locate, readRows } from "./tensor-io.js";

/** Fills `out` [tokens.length, hidden] with the embedding rows of `tokens`. */
export async function gatherEmbeddings(weights: ModelWeights, spec: ModelSpec, tokens: ArrayLike<number>, out: Float32Array): Promise<void> {
	const H = spec.hidden;
	for (let i = 0; i < tokens.length; i++) {
		const id = tokens[i]!;
		if (!Number.isInteger(id) || id < 0 || id >= spec.vocab) {
			throw new ModelError(`${spec.config.file}: token id ${id} is outside the model's vocabulary (vocab_size ${spec.vocab})`, { file: spec.config.file });
		}
	}
	const location = locate(weights, tensorNames.embed, [spec.vocab, H]);
	const rowBytes = H * dtypeBytes(location.dtype);
	const unique = [...new Set(Array.from(tokens))];
	const rows = new Map<number, Float32Array>();
	await Promise.all(unique.map(async (id) => {
		const bytes = await readRows(location, H, id, 1, new Uint8Array(rowBytes));
		rows.set(id, toFloat32(bytes, location.dtype, H));
	}));
	for (let i = 0; i < tokens.length; i++) out.set(rows.get(tokens[i]!)!, i * H);
}
