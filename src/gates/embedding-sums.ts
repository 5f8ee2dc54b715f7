/**
 * Sums of input-embedding rows for cheap_embed, reading only the rows of the tokens that occur (one
 * positional read per distinct token) instead of the whole [vocab, H] matrix.
 */
import { ModelError } from "../errors.js";
import { LLAMA_LIKE_NAMES } from "../inputs/input-families.js";
import { type ModelWeights, dtypeBytes, toFloat32 } from "../safetensors/index.js";

export const EMBEDDING_TENSOR = LLAMA_LIKE_NAMES.embed;

/** For each id list (all tokens of one side of one expert), the f64 sum of their f32-upcast embeddings. */
export async function embeddingSums(weights: ModelWeights, idLists: readonly (readonly number[])[], hiddenSize: number): Promise<Float64Array[]> {
	const { file, info } = weights.get(EMBEDDING_TENSOR);
	const [vocab, width] = info.shape;
	if (info.shape.length !== 2 || width !== hiddenSize) {
		throw new ModelError(`${file.path}: ${EMBEDDING_TENSOR} has shape [${info.shape.join(", ")}], expected [vocab, ${hiddenSize}]`, { file: file.path });
	}
	const rowBytes = hiddenSize * dtypeBytes(info.dtype);
	const raw = new Uint8Array(rowBytes);
	const rows = new Map<number, Float32Array>();
	for (const id of new Set(idLists.flat())) {
		if (!Number.isInteger(id) || id < 0 || id >= vocab) {
			throw new ModelError(`token id ${id} of a gate prompt is outside ${EMBEDDING_TENSOR}'s ${vocab} rows in ${file.path}`, {
				file: file.path,
				hint: "the base model's tokenizer does not match its weights",
			});
		}
		await file.read(info, id * rowBytes, rowBytes, raw);
		rows.set(id, toFloat32(raw, info.dtype, hiddenSize));
	}
	return idLists.map((ids) => {
		const sum = new Float64Array(hiddenSize);
		for (const id of ids) {
			const row = rows.get(id)!;
			for (let k = 0; k < hiddenSize; k++) sum[k] += row[k];
		}
		return sum;
	});
}
