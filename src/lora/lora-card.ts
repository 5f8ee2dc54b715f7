/** README.md of a checkpoint with adapters folded in: Hub front matter and what was applied, in order. */
import { stringify } from "yaml";
import { isHubId } from "../hub/repo-id.js";
import type { LoraAdapter } from "./adapter-files.js";

export interface LoraCardInput {
	model: string;
	config: Record<string, unknown>;
	adapters: readonly LoraAdapter[];
	repoId?: string;
	toolVersion: string;
	edited: number;
	warnings: readonly string[];
}

export function renderLoraCard(input: LoraCardInput): string {
	const nameOrPath = input.config._name_or_path;
	const base = isHubId(input.model) ? input.model : isHubId(nameOrPath) ? nameOrPath : undefined;
	const front = {
		...(base && { base_model: [base], base_model_relation: "merge" }),
		tags: ["lora", "merge", "moe-merge"],
		library_name: "transformers",
	};
	const adapterLines = input.adapters.map((a, i) => {
		const c = a.config;
		const kind = [c.useDora ? "DoRA" : "LoRA", c.useRslora ? "rsLoRA scaling" : undefined].filter(Boolean).join(", ");
		return `${i + 1}. \`${a.name}\`: ${kind}, r = ${c.r}, lora_alpha = ${c.alpha}${c.baseModel ? ` (trained on ${c.baseModel})` : ""}`;
	});
	return [
		"---",
		stringify(front).trimEnd(),
		"---",
		"",
		`# ${input.repoId ? input.repoId.slice(input.repoId.indexOf("/") + 1) : `${input.model} with ${input.adapters.length === 1 ? "a LoRA" : `${input.adapters.length} LoRAs`} applied`}`,
		"",
		`\`${input.model}\` with these peft adapters folded into its weights, in this order, by [moe-merge](https://www.npmjs.com/package/moe-merge) ${input.toolVersion} \`apply-lora\``,
		`(each changed weight is W + scale·B·A computed in float32 and rounded once; ${input.edited} tensors changed, every other tensor is the model's, bit for bit):`,
		"",
		...adapterLines,
		...(input.warnings.length > 0 ? ["", "Warnings:", "", ...input.warnings.map((w) => `- ${w}`)] : []),
		"",
	].join("\n");
}
