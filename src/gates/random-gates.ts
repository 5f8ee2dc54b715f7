import { GATE_MODES, type RandomGateMode } from "../recipe/gate-modes.js";
import { SeededRandom } from "../random/seeded-random.js";

export interface RandomGateOptions {
	mode: RandomGateMode;
	numLayers: number;
	/** Rows per layer: routed experts, or 1 for a shared-expert gate. */
	rows: number;
	hiddenSize: number;
	seed: number;
	/** Keeps router and shared-expert gate streams apart. */
	purpose?: string;
}

/**
 * Router rows without prompts: `random` draws N(0, 1) like torch.randn, `uniform_random` draws
 * U(-1/sqrt(H), 1/sqrt(H)) like a freshly initialised nn.Linear. One stream per layer, so layer l's
 * rows do not depend on how many layers come before.
 */
export function buildRandomGates(options: RandomGateOptions): Float32Array[] {
	const { mode, numLayers, rows, hiddenSize: H, seed, purpose = "router" } = options;
	const bound = 1 / Math.sqrt(H);
	return Array.from({ length: numLayers }, (_, layer) => {
		const rng = new SeededRandom(seed, `${purpose}/${mode}/layer${layer}`);
		const out = new Float32Array(rows * H);
		return GATE_MODES[mode].distribution === "normal" ? rng.fillNormal(out) : rng.fillUniform(out, -bound, bound);
	});
}
