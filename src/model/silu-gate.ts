/** The gated MLP's middle: act[r, i] = silu(gate[r, i]) * up[r, i], from rows laid out [gate | up]. */
const f = Math.fround;

export function siluGate(gateUp: Float32Array, out: Float32Array, rows: number, intermediate: number): void {
	for (let r = 0; r < rows; r++) {
		const gi = r * 2 * intermediate;
		const ui = gi + intermediate;
		const oi = r * intermediate;
		for (let i = 0; i < intermediate; i++) {
			const g = gateUp[gi + i]!;
			// torch's SiLU in f32: x / (1 + exp(-x)), then the product with up in f32.
			out[oi + i] = f(g / (1 + Math.exp(-g))) * gateUp[ui + i]!;
		}
	}
}
