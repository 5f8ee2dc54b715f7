/**
 * Where the wall time of a forward pass goes, phase by phase (seconds): waiting for the next layer's
 * weights to be read, packing them, the matrix products, attention and rope, and the small row
 * operations (norms, SiLU, residual adds). The caller passes one in and reads it afterwards.
 */
export interface PhaseTimes {
	readWait: number;
	pack: number;
	products: number;
	attention: number;
	rowOps: number;
}

export type Phase = keyof PhaseTimes;

export function newPhaseTimes(): PhaseTimes {
	return { readWait: 0, pack: 0, products: 0, attention: 0, rowOps: 0 };
}

/** Runs `work` and adds its wall time to `phase` (nothing when no times are kept). */
export async function timed<T>(times: PhaseTimes | undefined, phase: Phase, work: () => Promise<T> | T): Promise<T> {
	if (!times) return work();
	const start = performance.now();
	try {
		return await work();
	} finally {
		times[phase] += (performance.now() - start) / 1000;
	}
}
