/**
 * config.json text as Python's json writes it. transformers 5 validates config fields with strict
 * dataclasses, so a float field must be written `0.0`, not `0` (JSON.stringify drops the `.0`).
 */
const FLOAT_KEYS = new Set([
	"rms_norm_eps",
	"rope_theta",
	"router_jitter_noise",
	"router_aux_loss_coef",
	"attention_dropout",
	"initializer_range",
	"factor",
	"low_freq_factor",
	"high_freq_factor",
	"beta_fast",
	"beta_slow",
	"attention_factor",
	"mscale",
	"mscale_all_dim",
	"extrapolation_factor",
]);

export function stringifyConfig(config: Record<string, unknown>): string {
	return `${write(config, "", undefined)}\n`;
}

function write(value: unknown, indent: string, key: string | undefined): string {
	if (typeof value === "number") {
		if (!Number.isFinite(value)) throw new Error(`config value ${key} is ${value}, which JSON cannot hold`);
		return key !== undefined && FLOAT_KEYS.has(key) && Number.isInteger(value) ? `${value}.0` : JSON.stringify(value);
	}
	if (Array.isArray(value)) {
		if (value.length === 0) return "[]";
		const inner = indent + "  ";
		return `[\n${value.map((v) => inner + write(v, inner, key)).join(",\n")}\n${indent}]`;
	}
	if (value !== null && typeof value === "object") {
		const entries = Object.entries(value).filter(([, v]) => v !== undefined);
		if (entries.length === 0) return "{}";
		const inner = indent + "  ";
		return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${write(v, inner, k)}`).join(",\n")}\n${indent}}`;
	}
	return JSON.stringify(value) ?? "null";
}
