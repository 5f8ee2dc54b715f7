/**
 * peft's adapter_config.json, as far as merging a LoRA needs it. Everything peft can save that is not a
 * plain LoRA (another peft_type, or a LoRA variant whose merge is not W + scale·B·A or DoRA) is refused
 * here, by name, before any weight is read or written.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { MoeMergeError } from "../errors.js";

import { ADAPTER_CONFIG_FILE } from "../checkpoint/side-files.js";

export { ADAPTER_CONFIG_FILE };
/** A real adapter_config.json is a few KB; a bigger one is not read into memory. */
const MAX_CONFIG_BYTES = 1 << 20;

export interface LoraAdapterConfig {
	r: number;
	alpha: number;
	useRslora: boolean;
	useDora: boolean;
	/** peft's regex keys (matched against the module name's tail), in the file's order. */
	rankPattern: [string, number][];
	alphaPattern: [string, number][];
	fanInFanOut: boolean;
	modulesToSave: string[];
	targetParameters: string[];
	baseModel?: string;
}

/** LoRA options whose merge is something else than W + scale·B·A (or DoRA): refused by name. */
const UNSUPPORTED_OPTIONS: [key: string, isSet: (v: unknown) => boolean][] = [
	["lora_bias", (v) => v === true],
	["use_qalora", (v) => v === true],
	["use_bdlora", (v) => v != null && v !== false],
	["velora_config", (v) => v != null],
	["kasa_config", (v) => v != null],
	["arrow_config", (v) => v != null],
	["monteclora_config", (v) => v != null],
	["alora_invocation_tokens", (v) => v != null],
	["layer_replication", (v) => v != null],
	["trainable_token_indices", (v) => v != null],
	["mica", (v) => v != null && v !== false],
];

function fail(adapter: string, message: string, hint?: string): never {
	throw new MoeMergeError(`${adapter}: ${message}`, { file: join(adapter, ADAPTER_CONFIG_FILE), hint });
}

/** Reads and checks `<adapter>/adapter_config.json` (size-bounded). */
export async function readAdapterConfig(adapter: string): Promise<LoraAdapterConfig> {
	const file = join(adapter, ADAPTER_CONFIG_FILE);
	const info = await stat(file).catch(() => undefined);
	if (!info?.isFile()) fail(adapter, `no ${ADAPTER_CONFIG_FILE}: not a peft adapter folder`);
	if (info.size > MAX_CONFIG_BYTES) fail(adapter, `${ADAPTER_CONFIG_FILE} is ${info.size} bytes, more than a peft config can be (${MAX_CONFIG_BYTES})`);
	let raw: unknown;
	try {
		raw = JSON.parse(await readFile(file, "utf8"));
	} catch (error) {
		fail(adapter, `${ADAPTER_CONFIG_FILE} is not valid JSON: ${(error as Error).message}`);
	}
	if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(adapter, `${ADAPTER_CONFIG_FILE} is not a JSON object`);
	return parseAdapterConfig(adapter, raw as Record<string, unknown>);
}

export function parseAdapterConfig(adapter: string, raw: Record<string, unknown>): LoraAdapterConfig {
	const type = raw.peft_type;
	if (type !== "LORA") {
		fail(adapter, `peft_type ${JSON.stringify(type ?? null)} is not supported: only LoRA adapters (peft_type "LORA") can be merged into weights`);
	}
	for (const [key, isSet] of UNSUPPORTED_OPTIONS) {
		if (isSet(raw[key])) fail(adapter, `LoRA with ${key} = ${JSON.stringify(raw[key])} is not supported (its merge is not W + scale·B·A)`);
	}
	const init = raw.init_lora_weights;
	if (typeof init === "string" && /^(loftq)$/i.test(init)) fail(adapter, `LoRA with init_lora_weights = "${init}" is not supported (its base weights are quantized and replaced)`);
	const positive = (key: string): number => {
		const v = raw[key];
		if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(adapter, `${key} must be a positive number, got ${JSON.stringify(v)}`);
		return v;
	};
	const pattern = (key: string): [string, number][] => {
		const v = raw[key] ?? {};
		if (typeof v !== "object" || Array.isArray(v)) fail(adapter, `${key} must be an object`);
		return Object.entries(v as Record<string, unknown>).map(([k, n]) => {
			if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) fail(adapter, `${key}[${JSON.stringify(k)}] must be a positive number`);
			return [k, n];
		});
	};
	const names = (key: string): string[] => {
		const v = raw[key] ?? [];
		if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) fail(adapter, `${key} must be a list of names`);
		return v as string[];
	};
	const flag = (key: string) => raw[key] === true;
	return {
		r: positive("r"),
		alpha: positive("lora_alpha"),
		useRslora: flag("use_rslora"),
		useDora: flag("use_dora"),
		rankPattern: pattern("rank_pattern"),
		alphaPattern: pattern("alpha_pattern"),
		fanInFanOut: flag("fan_in_fan_out"),
		modulesToSave: names("modules_to_save"),
		targetParameters: names("target_parameters"),
		baseModel: typeof raw.base_model_name_or_path === "string" ? raw.base_model_name_or_path : undefined,
	};
}

/** peft's get_pattern_key: the first key whose regex matches the end of the module name at a dot. */
export function patternValue(pattern: readonly [string, number][], module: string): number | undefined {
	for (const [key, value] of pattern) {
		let re: RegExp;
		try {
			re = new RegExp(`^(?:.*\\.)?(?:${key})$`);
		} catch {
			continue;
		}
		if (re.test(module)) return value;
	}
	return undefined;
}

/** peft's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA; rank and alpha from the patterns. */
export function loraScale(config: LoraAdapterConfig, module: string): { r: number; scale: number } {
	const r = patternValue(config.rankPattern, module) ?? config.r;
	const alpha = patternValue(config.alphaPattern, module) ?? config.alpha;
	return { r, scale: config.useRslora ? alpha / Math.sqrt(r) : alpha / r };
}
