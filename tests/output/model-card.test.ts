/** The model card: front matter the Hub accepts (parsed with a YAML parser), links, notes, usage snippet, routing section. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { describeCardSource } from "../../src/output/card-sources.js";
import { type ModelCardInput, renderModelCard, withRoutingSection } from "../../src/output/model-card.js";
import { tempDir } from "../merge/helpers.js";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function frontMatter(card: string): Record<string, unknown> {
	const match = /^---\n([\s\S]*?)\n---\n/.exec(card);
	assert.ok(match, "the card starts with YAML front matter");
	return parse(match[1]!) as Record<string, unknown>;
}

async function sourceDir(root: string, name: string, readme?: string): Promise<string> {
	const dir = join(root, name);
	await mkdir(dir, { recursive: true });
	if (readme !== undefined) await writeFile(join(dir, "README.md"), readme);
	return dir;
}

const input = (sources: ModelCardInput["sources"], extra: Partial<ModelCardInput> = {}): ModelCardInput => ({
	sources, architecture: "Mixtral", numExperts: 2, expertsPerToken: 2, gateMode: "hidden", seed: 3, dtype: "bfloat16", layout: "per-expert",
	recipeText: "base_model: org/base\n", recipeFileName: "recipe.yml", toolVersion: "0.1.0", warnings: [], ...extra,
});

test("Hub ids: the Hub repo, or a local folder's config _name_or_path when it is one; license from the base's card", async () => {
	const root = await tempDir();
	const hub = await describeCardSource({ role: "base", label: "org/base@main", dir: await sourceDir(root, "hub", "---\nlicense: apache-2.0\ntags: [x]\n---\n# base\n"), commit: COMMIT, hubRepo: "org/base", config: {} });
	assert.deepEqual(hub, { role: "base", label: "org/base@main", commit: COMMIT, hubId: "org/base", hubIdFrom: "hub", license: "apache-2.0" });
	const named = await describeCardSource({ role: "expert 0", label: "./a", dir: await sourceDir(root, "a", "# no front matter\n"), config: { _name_or_path: "TinyLlama/TinyLlama-1.1B-Chat-v1.0" } });
	assert.equal(named.hubId, "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
	assert.equal(named.hubIdFrom, "config");
	assert.equal(named.license, undefined);
	for (const path of ["/home/me/models/a", "./models/a", "a", "org/na me", "org/a/b"]) {
		const local = await describeCardSource({ role: "expert 1", label: "./b", dir: join(root, "missing"), config: { _name_or_path: path } });
		assert.equal(local.hubId, undefined, `${path} is not a Hub id`);
	}
});

test("front matter parses as YAML with Hub ids only, license, tags, library and pipeline; local folders are explained", () => {
	const card = renderModelCard(input([
		{ role: "base", label: "org/base", commit: COMMIT, hubId: "org/base", hubIdFrom: "hub", license: "apache-2.0" },
		{ role: "expert 0", label: "./a", hubId: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", hubIdFrom: "config", license: "mit" },
		{ role: "expert 1", label: "/models/local-b" },
	]));
	assert.deepEqual(frontMatter(card), {
		base_model: ["org/base", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"],
		base_model_relation: "merge",
		license: "apache-2.0",
		tags: ["moe", "frankenmoe", "merge", "moe-merge", "org/base", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"],
		library_name: "transformers",
		pipeline_tag: "text-generation",
	});
	assert.ok(card.includes(`| base | [org/base](https://huggingface.co/org/base) | [\`0123456789\`](https://huggingface.co/org/base/commit/${COMMIT}) |`));
	assert.ok(card.includes("| expert 0 | [TinyLlama/TinyLlama-1.1B-Chat-v1.0](https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0) (local copy `./a`) | local folder |"));
	assert.ok(card.includes("| expert 1 | `/models/local-b` | local folder |"));
	assert.match(card, /Not listed in `base_model`: `\/models\/local-b`/);
	assert.match(card, /Other licenses among the sources: TinyLlama\/TinyLlama-1.1B-Chat-v1.0: mit\./);
	assert.match(card, /^# Mixtral mixture of 2 experts$/m);
	assert.match(card, /model_id = "path\/to\/this\/folder"/);
});

test("pushing: the repo name is the title and the snippet's model id; no Hub id at all leaves base_model out", () => {
	const card = renderModelCard(input([{ role: "base", label: "./base" }, { role: "expert 0", label: "./a" }], { repoId: "me/tiny-moe", layout: "fused", tokenizer: false }));
	const front = frontMatter(card);
	assert.equal(front.base_model, undefined);
	assert.equal(front.license, undefined);
	assert.match(card, /^# tiny-moe$/m);
	assert.match(card, /model_id = "me\/tiny-moe"\ntokenizer = AutoTokenizer\.from_pretrained\(model_id\)/);
	assert.match(card, /needs transformers >= 5/);
	assert.match(card, /tokenizer files were not copied/);
	assert.match(card, /License: the base model's card states none/);
});

test("the routing section goes before the usage section, and replaces an earlier one", () => {
	const card = renderModelCard(input([{ role: "base", label: "org/base", hubId: "org/base", hubIdFrom: "hub" }]));
	const routing = { agreement: 0.5, prompts: [{ text: "def f(x):\n  return x", expert: 0, topExpert: 0, ownShare: 0.61 }, { text: "a | b", expert: 1, topExpert: 0, ownShare: 0.2 }] };
	const once = withRoutingSection(card, routing);
	assert.ok(once.indexOf("## Routing") < once.indexOf("## Usage"));
	assert.match(once, /\*\*routing agreement 50%\*\*, 1 of 2 prompts/);
	assert.ok(once.includes("| def f(x): return x | 0 | 0 | 61% |"));
	assert.ok(once.includes("| a \\| b | 1 | 0 | 20% |"));
	const twice = withRoutingSection(once, { ...routing, agreement: 1 });
	assert.equal(twice.split("## Routing").length, 2, "one routing section");
	assert.match(twice, /routing agreement 100%/);
	assert.deepEqual(frontMatter(twice), frontMatter(card));
});

test("every link of the card goes to the Hub: no package page that does not exist", () => {
	const card = renderModelCard(input([{ role: "base", label: "org/base", commit: COMMIT, hubId: "org/base", hubIdFrom: "hub" }]));
	assert.match(card, /made with moe-merge 0\.1\.0 from dense models/);
	const links = [...card.matchAll(/\]\((https?:[^)\s]+)\)/g)].map((m) => m[1]!);
	assert.ok(links.length > 0);
	for (const link of links) assert.match(link, /^https:\/\/huggingface\.co\//, link);
});
