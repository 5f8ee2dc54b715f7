import { type GateMode, isRandomGateMode } from "../recipe/gate-modes.js";
import { stringify } from "yaml";
import type { CardSource } from "./card-sources.js";
import { type CardGgufFile, renderGgufSection } from "./gguf-card.js";

/** The routing report's summary, for the card (src/report/). */
export interface CardRouting {
	/** Share of the recipe's prompts whose own expert gets the most routing weight. */
	agreement: number | null;
	prompts: { text: string; expert: number | null; topExpert: number; ownShare: number | null }[];
}

export interface ModelCardInput {
	/** Source models, base first, then experts in recipe order. */
	sources: CardSource[];
	architecture: string;
	/** The Hub repo whose modeling code loads this architecture (trust_remote_code), when transformers has none. */
	remoteCode?: string;
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
	/** The Hub repo the model is pushed to: the title and the snippet's model id. */
	repoId?: string;
	/** Whether the tokenizer was copied (the usage snippet needs it). */
	tokenizer?: boolean;
	routing?: CardRouting;
	/** GGUF files written beside the weights (`--gguf`). */
	gguf?: CardGgufFile[];
}

const HUB = "https://huggingface.co";
/** The heading the routing section starts with, so `--report` can add it to a written card. */
export const ROUTING_HEADING = "## Routing";

/** README.md with front matter the Hub accepts, saying how the model was made and how to run it. */
export function renderModelCard(input: ModelCardInput): string {
	const hubIds = [...new Set(input.sources.flatMap((s) => (s.hubId ? [s.hubId] : [])))];
	const base = input.sources[0];
	const front: Record<string, unknown> = {
		...(hubIds.length > 0 && { base_model: hubIds, base_model_relation: "merge" }),
		...(base?.license && { license: base.license }),
		tags: ["moe", "frankenmoe", "merge", "moe-merge", ...(input.gguf?.length ? ["gguf"] : []), ...hubIds],
		library_name: "transformers",
		pipeline_tag: "text-generation",
	};
	const fence = input.recipeText.includes("```") ? "~~~~" : "```";
	return [
		"---",
		stringify(front).trimEnd(),
		"---",
		"",
		`# ${input.repoId ? input.repoId.slice(input.repoId.indexOf("/") + 1) : `${input.architecture} mixture of ${input.numExperts} experts`}`,
		"",
		`This model was made with moe-merge ${input.toolVersion} from dense models:`,
		`attention, norms and embeddings come from the base model, and the MLP of each expert model became one routed expert`,
		`(${input.expertsPerToken} of ${input.numExperts} experts are used per token).`,
		"",
		"| role | model | revision |",
		"|---|---|---|",
		...input.sources.map(sourceRow),
		"",
		...sourceNotes(input.sources),
		...(input.routing ? [renderRoutingSection(input.routing), ""] : []),
		"## Usage",
		"",
		...usage(input),
		"",
		...renderGgufSection(input.gguf ?? [], input.repoId),
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

function sourceRow(s: CardSource): string {
	const model = s.hubId ? `[${s.hubId}](${HUB}/${s.hubId})${s.hubIdFrom === "config" ? ` (local copy \`${s.label}\`)` : ""}` : `\`${s.label}\``;
	const revision = s.commit && s.hubId ? `[\`${s.commit.slice(0, 10)}\`](${HUB}/${s.hubId}/commit/${s.commit})` : s.commit ? `\`${s.commit}\`` : "local folder";
	return `| ${s.role} | ${model} | ${revision} |`;
}

/** What the front matter could not say: local folders without Hub ids, licenses other than the base's. */
function sourceNotes(sources: CardSource[]): string[] {
	const notes: string[] = [];
	const unnamed = sources.filter((s) => !s.hubId).map((s) => `\`${s.label}\``);
	if (unnamed.length > 0) {
		notes.push(`Not listed in \`base_model\`: ${[...new Set(unnamed)].join(", ")}, local folder(s) whose config.json names no Hub repo (\`_name_or_path\`).`);
	}
	const base = sources[0]?.license;
	const others = [...new Set(sources.slice(1).flatMap((s) => (s.license && s.license !== base ? [`${s.hubId ?? s.label}: ${s.license}`] : [])))];
	if (!base) notes.push("License: the base model's card states none; check the licenses of the source models before use.");
	if (others.length > 0) notes.push(`Other licenses among the sources: ${others.join(", ")}.`);
	return notes.length > 0 ? [...notes, ""] : [];
}

function usage(input: ModelCardInput): string[] {
	const id = input.repoId ?? "path/to/this/folder";
	const lines = [
		"```python",
		"from transformers import AutoModelForCausalLM, AutoTokenizer",
		"",
		`model_id = ${JSON.stringify(id)}`,
		"tokenizer = AutoTokenizer.from_pretrained(model_id)",
		`model = AutoModelForCausalLM.from_pretrained(model_id, dtype="auto"${input.remoteCode ? ", trust_remote_code=True" : ""})`,
		'inputs = tokenizer("The capital of France is", return_tensors="pt")',
		"outputs = model.generate(**inputs, max_new_tokens=32)",
		"print(tokenizer.decode(outputs[0], skip_special_tokens=True))",
		"```",
	];
	if (input.remoteCode) lines.push("", `${input.architecture} has no modeling code in transformers: \`trust_remote_code=True\` runs ${input.remoteCode}'s code, which config.json's auto_map names.`);
	if (input.layout === "fused") lines.push("", "The experts are stored in transformers 5's fused layout: this needs transformers >= 5.");
	if (input.tokenizer === false) lines.push("", "The tokenizer files were not copied (`--no-copy-tokenizer`): load the tokenizer of the base model instead.");
	return lines;
}

/** The card's routing section, from a routing report (`--report`). */
export function renderRoutingSection(routing: CardRouting): string {
	const pct = (v: number): string => `${(v * 100).toFixed(0)}%`;
	const judged = routing.prompts.filter((p) => p.expert !== null);
	const rows = routing.prompts.map((p) => {
		const text = p.text.replace(/\s+/g, " ").replace(/\|/g, "\\|");
		return `| ${text.length > 60 ? `${text.slice(0, 59)}…` : text} | ${p.expert ?? "—"} | ${p.topExpert} | ${p.ownShare === null ? "—" : pct(p.ownShare)} |`;
	});
	return [
		ROUTING_HEADING,
		"",
		`Measured by \`moe-merge --report\` on the recipe's prompts (\`report.json\`, \`report.html\` beside this card)` +
			(routing.agreement === null ? "." : `: **routing agreement ${pct(routing.agreement)}**, ${judged.filter((p) => p.topExpert === p.expert).length} of ${judged.length} prompts get most of their routing weight from their own expert.`),
		"",
		"| prompt | its expert | top expert | its expert's share |",
		"|---|---|---|---|",
		...rows,
	].join("\n");
}

/** Adds (or replaces) the routing section of a card written by renderModelCard, before its usage section. */
export function withRoutingSection(card: string, routing: CardRouting): string {
	const section = `${renderRoutingSection(routing)}\n\n`;
	const start = card.indexOf(`\n${ROUTING_HEADING}\n`);
	const usageAt = card.indexOf("\n## Usage\n");
	if (start >= 0) return card.slice(0, start + 1) + section + card.slice(card.indexOf("\n## ", start + 1) + 1);
	return usageAt >= 0 ? card.slice(0, usageAt + 1) + section + card.slice(usageAt + 1) : `${card.trimEnd()}\n\n${section}`;
}
