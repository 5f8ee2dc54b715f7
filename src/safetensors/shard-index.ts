/** `model.safetensors.index.json` for a sharded output, formatted like transformers writes it. */
import type { ShardPlan } from "./shard-plan.js";

/**
 * {"metadata": {"total_size": data bytes}, "weight_map": {name: fileName}}, keys sorted, two-space
 * indent, ASCII-escaped and newline-terminated, as transformers' json.dumps(..., sort_keys=True) does.
 * Only write it when there is more than one shard.
 */
export function encodeIndex(shards: ShardPlan[]): string {
	const totalSize = shards.reduce((sum, shard) => sum + shard.dataBytes, 0);
	const entries = shards.flatMap((shard) => shard.tensors.map((t) => [t.spec.name, shard.fileName] as const));
	entries.sort(([a], [b]) => compareCodePoints(a, b));
	const weightMap = entries.length === 0
		? "{}"
		: `{\n${entries.map(([name, file]) => `    ${pythonJsonString(name)}: ${pythonJsonString(file)}`).join(",\n")}\n  }`;
	return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${weightMap}\n}\n`;
}

/** Python sorts strings by code point; JS by UTF-16 unit, which differs only for astral characters. */
function compareCodePoints(a: string, b: string): number {
	const length = Math.min(a.length, b.length);
	for (let i = 0; i < length; i++) {
		const x = a.charCodeAt(i);
		const y = b.charCodeAt(i);
		if (x !== y) return codePointOrder(x) - codePointOrder(y);
	}
	return a.length - b.length;
}

/** Moves surrogates (astral code points) above U+E000..U+FFFF. */
function codePointOrder(unit: number): number {
	if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
	if (unit >= 0xe000) return unit - 0x800;
	return unit;
}

/** JSON.stringify with non-ASCII escaped as \uXXXX, like Python's ensure_ascii. */
function pythonJsonString(text: string): string {
	return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
