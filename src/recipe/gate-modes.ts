/**
 * Every gate_mode and how it makes router rows: the one table that decides which modes need prompts,
 * which run the base model's forward pass and which are random (mergekit-moe's `gate_mode`).
 */

/** Where a mode's router rows come from. */
export type GateRowSource = "hidden-states" | "embeddings" | "random";

export interface GateModeInfo {
	rows: GateRowSource;
	/** hidden-states modes: the per-prompt vector, the last token's state or the mean over the tokens. */
	vector?: "last" | "mean";
	/** random modes: torch.randn's normal, or nn.Linear's uniform U(-1/sqrt(H), +1/sqrt(H)). */
	distribution?: "normal" | "uniform";
}

export const GATE_MODES = {
	hidden: { rows: "hidden-states", vector: "last" },
	// mergekit's hidden_last is the same as hidden (`average = mode == "hidden_avg"`).
	hidden_last: { rows: "hidden-states", vector: "last" },
	hidden_avg: { rows: "hidden-states", vector: "mean" },
	cheap_embed: { rows: "embeddings" },
	random: { rows: "random", distribution: "normal" },
	uniform_random: { rows: "random", distribution: "uniform" },
} as const satisfies Record<string, GateModeInfo>;

export type GateMode = keyof typeof GATE_MODES;
type ModesWith<S extends GateRowSource> = { [M in GateMode]: (typeof GATE_MODES)[M]["rows"] extends S ? M : never }[GateMode];
/** Modes whose routers come from the experts' prompts. */
export type PromptGateMode = ModesWith<"hidden-states" | "embeddings">;
/** Modes that run the base model over the prompts. */
export type HiddenGateMode = ModesWith<"hidden-states">;
/** Modes drawn from the seed, without prompts (the model needs training). */
export type RandomGateMode = ModesWith<"random">;

export const DEFAULT_GATE_MODE: GateMode = "hidden";

export function usesPrompts(mode: GateMode): mode is PromptGateMode {
	return GATE_MODES[mode].rows !== "random";
}

export function readsHiddenStates(mode: GateMode): mode is HiddenGateMode {
	return GATE_MODES[mode].rows === "hidden-states";
}

export function isRandomGateMode(mode: GateMode): mode is RandomGateMode {
	return GATE_MODES[mode].rows === "random";
}
