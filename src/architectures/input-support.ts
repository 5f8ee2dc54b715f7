import type { DenseConfig } from "../inputs/dense-config.js";
import { SILU_ACTIVATIONS } from "../inputs/input-families.js";
import type { OutputArchitecture } from "./output-architecture.js";

/**
 * Why an input model cannot become part of an output architecture, or null: biases the output has no
 * place for (from its bias policy), an MLP activation other than SiLU (every expert we write is a
 * SiLU-gated MLP), then the architecture's own checks.
 */
export function unsupportedInputReason(arch: OutputArchitecture, config: DenseConfig): string | null {
	if (config.biases.includes("mlp")) return `its MLP has biases (mlp_bias: true), which ${arch.displayName} experts cannot carry`;
	const extra = config.biases.filter((site) => !(arch.biases.carried as readonly string[]).includes(site));
	if (extra.length > 0) {
		const names = extra.map((s) => s.replace("_proj", "")).join("/");
		return `it has attention biases (${names} bias), which ${arch.displayName} has no place for${arch.biases.whyNot ? `; ${arch.biases.whyNot}` : ""}`;
	}
	if (!SILU_ACTIVATIONS.includes(config.hiddenAct)) return `its MLP activation is ${config.hiddenAct}; ${arch.displayName} experts use silu`;
	return arch.unsupportedInput?.(config) ?? null;
}
