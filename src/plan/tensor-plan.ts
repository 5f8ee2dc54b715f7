import type { DType } from "../safetensors/index.js";

/** One contiguous piece of an output tensor, in row-major order. */
export type TensorPart =
	| {
			kind: "copy";
			/** Index into the input models (TensorPlanInput.weights, MergePlan.weights). */
			source: number;
			name: string;
			/** residual_scale: multiply every value. */
			scale?: number;
			/** noise_scale: add N(0, std²) from a stream keyed by `key` and the merge's seed. */
			noise?: { std: number; key: string };
	  }
	| { kind: "values"; values: Float32Array; label: string }
	/** Values computed while the other tensors are written (hidden-state routers): the writer waits for them. */
	| { kind: "pending"; length: number; values: () => Promise<Float32Array>; label: string };

/**
 * An output tensor and where its bytes come from: parts concatenated along the first dimension, or with
 * `concat: "columns"` along the second (2-D copy parts with the same number of rows: stacked down_proj
 * columns of several shared experts).
 */
export interface PlannedTensor {
	name: string;
	dtype: DType;
	shape: number[];
	parts: TensorPart[];
	concat?: "columns";
}
