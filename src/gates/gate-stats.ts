/**
 * How distinct one layer's gate rows are: the condition number of the [E, H] matrix (like mergekit's
 * torch.linalg.cond: largest over smallest singular value, from the eigenvalues of the small Gram
 * matrix, in f64) and the cosines between rows.
 */
import { symmetricEigenvalues } from "./symmetric-eigen.js";

export interface GateLayerStats {
	layer: number;
	/** σmax / σmin; Infinity when the rows are linearly dependent (e.g. two equal rows). */
	conditionNumber: number;
	/** Extreme cosines between two different rows (NaN with a single row). */
	minCosine: number;
	maxCosine: number;
	/** The two rows with the highest cosine. */
	mostSimilar?: [number, number];
}

/** `rows` holds `numRows` rows of `hiddenSize` values. */
export function gateLayerStats(layer: number, rows: Float32Array, numRows: number, hiddenSize: number): GateLayerStats {
	const gram = new Float64Array(numRows * numRows);
	for (let i = 0; i < numRows; i++) {
		for (let j = i; j < numRows; j++) {
			let dot = 0;
			for (let k = 0; k < hiddenSize; k++) dot += rows[i * hiddenSize + k] * rows[j * hiddenSize + k];
			gram[i * numRows + j] = gram[j * numRows + i] = dot;
		}
	}
	let minCosine = NaN;
	let maxCosine = NaN;
	let mostSimilar: [number, number] | undefined;
	for (let i = 0; i < numRows; i++) {
		for (let j = i + 1; j < numRows; j++) {
			const n = Math.sqrt(gram[i * numRows + i] * gram[j * numRows + j]);
			const cos = n === 0 ? 0 : gram[i * numRows + j] / n;
			if (!(cos >= minCosine)) minCosine = cos;
			if (!(cos <= maxCosine)) {
				maxCosine = cos;
				mostSimilar = [i, j];
			}
		}
	}
	return { layer, conditionNumber: conditionNumber(rows, numRows, hiddenSize, gram), minCosine, maxCosine, mostSimilar };
}

function conditionNumber(rows: Float32Array, numRows: number, hiddenSize: number, rowGram: Float64Array): number {
	// min(E, H) singular values: from the E×E Gram matrix, or the H×H one in the (odd) case E > H.
	const eig = numRows <= hiddenSize ? symmetricEigenvalues(rowGram, numRows) : symmetricEigenvalues(columnGram(rows, numRows, hiddenSize), hiddenSize);
	const largest = eig[eig.length - 1];
	const smallest = eig[0];
	if (!(largest > 0)) return Infinity;
	// Eigenvalues below the f64 rounding of the Gram matrix are zero singular values.
	if (smallest <= largest * 1e-15) return Infinity;
	return Math.sqrt(largest / smallest);
}

function columnGram(rows: Float32Array, numRows: number, hiddenSize: number): Float64Array {
	const gram = new Float64Array(hiddenSize * hiddenSize);
	for (let i = 0; i < hiddenSize; i++) {
		for (let j = i; j < hiddenSize; j++) {
			let dot = 0;
			for (let r = 0; r < numRows; r++) dot += rows[r * hiddenSize + i] * rows[r * hiddenSize + j];
			gram[i * hiddenSize + j] = gram[j * hiddenSize + i] = dot;
		}
	}
	return gram;
}
