import { type GateMode, isRandomGateMode } from "../recipe/gate-modes.js";
import { stringify } from "yaml";

export interface ModelCardInput {
	/** Source models as the recipe names them, base first, with the Hub commit when known. */
	sources: { label: string; role: string; commit?: string; hubRepo?: string }[];
	architecture: string;
	numExperts: number;
	expertsPerToken: number;
	gateMode: GateMode;
	seed: number;
	dtype: string;
	layout: string;
	recipeText: string;
	recipeFileName: string;
	toolVersion: string;
	warnings: string[];
}

/** README.md with Hub front matter, saying how the model was made. */
export function renderModelCard(input: ModelCardInput): string {
	const baseModels = [...new Set(input.sources.map((s) => s.hubRepo ?? s.label))];
	const front = stringify({ base_model: baseModels, tags: ["moe", "frankenmoe", "merge", "moe-merge"], library_name: "transformers" });
	const rows = input.sources.map((s) => `| ${s.role} | \`${s.label}\` | ${s.commit ? `\`${s.commit}\`` : "local folder"} |`);
	const fence = input.recipeText.includes("```") ? "~~~~" : "```";
	return [
		"---",
		front.trimEnd(),
		"---",
		"",
		`# ${input.architecture} mixture of ${input.numExperts} experts`,
		"",
		`This model was made with [moe-merge](https://www.npmjs.com/package/moe-merge) ${input.toolVersion} from dense models:`,
		`attention, norms and embeddings come from the base model, and the MLP of each expert model became one routed expert`,
		`(${input.expertsPerToken} of ${input.numExperts} experts are used per token).`,
		"",
		"| role | model | revision |",
		"|---|---|---|",
		...rows,
		"",
		"## How it was made",
		"",
		`- gate mode: \`${input.gateMode}\``,
		`- random seed: \`${input.seed}\` (\`--random-seed ${input.seed}\` reproduces the random gates and expert noise)`,
		`- dtype: \`${input.dtype}\`, expert layout: \`${input.layout}\``,
		...input.warnings.map((w) => `- note: ${w}`),
		"",
		`The routers have not been trained${isRandomGateMode(input.gateMode) ? " (random gates: fine-tune before use)" : ""}.`,
		"",
		`Recipe (\`${input.recipeFileName}\`):`,
		"",
		`${fence}yaml`,
		input.recipeText.trimEnd(),
		fence,
		"",
	].join("\n");
}
