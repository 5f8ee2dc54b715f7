/**
 * Where each routed expert comes from and whether its router row is kept or new (plan, model card), and
 * the router rows a merge keeps from MoE sources: each expert taken from an MoE without prompts
 * (`expert: N`) gets row N of its MoE's router in every layer, copied unchanged by the tensor plan
 * (the merge's view of that MoE holds its routers: src/model/moe-as-dense.ts).
 */
import { viewRouterName } from "../model/moe-as-dense.js";
import type { KeptRouterRow } from "../plan/build-tensor-plan.js";
import { isRandomGateMode, keepsRouterRow } from "../recipe/index.js";
import { type ModelWeights, dtypeBytes, toFloat32 } from "../safetensors/index.js";
import type { ResolvedRecipe } from "./resolve-recipe-models.js";

/** Per routed expert, where its kept row is (undefined: a new row). */
export function keptRouterRows(resolved: ResolvedRecipe): (KeptRouterRow | undefined)[] {
	return resolved.recipe.experts.map((spec, i) => {
		const source = resolved.experts[i]!;
		const expert = resolved.models[source]!.moe?.expert;
		if (!keepsRouterRow(spec) || expert === undefined) return undefined;
		return { source, row: expert, name: viewRouterName };
	});
}

/** Per layer, the kept rows' values [K, H] in expert order (undefined when none is kept): what new rows are scaled beside. */
export async function keptRowValues(kept: readonly (KeptRouterRow | undefined)[], weights: readonly ModelWeights[], numLayers: number, hidden: number): Promise<Float32Array[] | undefined> {
	const rows = kept.filter((k): k is KeptRouterRow => k !== undefined);
	if (rows.length === 0) return undefined;
	const layers: Float32Array[] = [];
	for (let l = 0; l < numLayers; l++) {
		const values = new Float32Array(rows.length * hidden);
		for (const [i, k] of rows.entries()) {
			const { file, info } = weights[k.source]!.get(k.name(l));
			const bytes = dtypeBytes(info.dtype);
			const raw = new Uint8Array(hidden * bytes);
			await file.read(info, k.row * hidden * bytes, raw.length, raw);
			toFloat32(raw, info.dtype, hidden, values.subarray(i * hidden, (i + 1) * hidden));
		}
		layers.push(values);
	}
	return layers;
}

export interface ExpertOrigin {
	/** The source model as the recipe writes it. */
	label: string;
	/** The routed expert of that MoE whose MLP this is (undefined: a dense model's MLP). */
	moeExpert?: number;
	/** "kept": row N of the source MoE's router, copied; "new": made by the gate mode. */
	router: "kept" | "new";
	/** One line: `expert 1 of ./moe (Mixtral), router row kept`. */
	text: string;
}

/** Per routed expert of the recipe, where its MLP and router row come from. */
export function expertOrigins(resolved: ResolvedRecipe): ExpertOrigin[] {
	const { recipe } = resolved;
	return recipe.experts.map((spec, i) => {
		const model = resolved.models[resolved.experts[i]!]!;
		const router = keepsRouterRow(spec) ? "kept" : "new";
		const mlp = model.moe?.expert !== undefined ? `expert ${model.moe.expert} of ${model.label} (${model.moe.spec.arch.displayName})` : `${model.label} (dense)`;
		const how = router === "kept" ? "router row kept" : isRandomGateMode(recipe.gateMode) ? `router row new (${recipe.gateMode})` : `router row new (${recipe.gateMode}, from its prompts)`;
		return { label: model.label, ...(model.moe?.expert !== undefined && { moeExpert: model.moe.expert }), router, text: `${mlp}, ${how}` };
	});
}
