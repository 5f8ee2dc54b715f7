/**
 * mergekit-moe warns when a layer's gate matrix has condition number > 5 ("degenerate gates"). We say
 * which layers and which two experts have the most similar rows, so the user knows which prompts to
 * change. Layers with the same most-similar pair share one message (cheap_embed repeats one row in
 * every layer, so a per-layer list would be a wall of identical lines).
 */
import type { GateLayerStats } from "./gate-stats.js";

export const DEGENERATE_CONDITION_NUMBER = 5;

export function degenerateGateWarnings(stats: readonly GateLayerStats[], expertLabels?: readonly string[]): string[] {
	const groups = new Map<string, GateLayerStats[]>();
	for (const s of stats) {
		if (!(s.conditionNumber > DEGENERATE_CONDITION_NUMBER)) continue;
		const key = s.mostSimilar?.join(",") ?? "";
		groups.set(key, [...(groups.get(key) ?? []), s]);
	}
	const name = (e: number) => (expertLabels?.[e] ? `${e} (${expertLabels[e]})` : String(e));
	return [...groups.values()].map((group) => {
		const layers = group.map((s) => s.layer);
		const conds = group.map((s) => s.conditionNumber);
		const pair = group[0].mostSimilar;
		const cosines = group.map((s) => s.maxCosine);
		const condText = range(Math.min(...conds), Math.max(...conds), formatCondition);
		const cosText = range(Math.min(...cosines), Math.max(...cosines), (c) => c.toFixed(4));
		const head = `${layers.length > 1 ? "layers" : "layer"} ${formatLayers(layers)}: degenerate gates (condition number ${condText} > ${DEGENERATE_CONDITION_NUMBER})`;
		const similar = pair ? `; experts ${name(pair[0])} and ${name(pair[1])} have the most similar router rows (cosine ${cosText})` : "";
		return `${head}${similar}; their prompts may be too similar, so some experts will be underused`;
	});
}

function range(lo: number, hi: number, format: (n: number) => string): string {
	return format(lo) === format(hi) ? format(lo) : `${format(lo)} to ${format(hi)}`;
}

function formatCondition(n: number): string {
	return Number.isFinite(n) ? n.toPrecision(3) : "infinite";
}

/** [0,1,2,5,7,8] → "0-2, 5, 7-8". */
export function formatLayers(layers: readonly number[]): string {
	const parts: string[] = [];
	for (let i = 0; i < layers.length; ) {
		let j = i;
		while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j++;
		parts.push(j === i ? String(layers[i]) : `${layers[i]}-${layers[j]}`);
		i = j + 1;
	}
	return parts.join(", ");
}
