#!/usr/bin/env node
/**
 * `npm run demo`: builds four tiny Llama models with random weights (real Llama config, the Mistral
 * tokenizer shipped in demo/tokenizer), then merges them with recipes/demo.yml into a Mixtral, offline,
 * in seconds. Everything goes into ./moe-merge-demo (or the folder given as the first argument).
 */
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createProgressReporter } from "../cli/progress-reporter.js";
import { describeError } from "../cli/report-error.js";
import { PACKAGE_ROOT } from "../package-root.js";
import { runMerge } from "../merge/run-merge.js";
import { loadRecipe } from "../recipe/index.js";
import { formatBytes } from "../util/size.js";
import { DEMO_FOLDER } from "../inputs/demo-models.js";
import { type DenseModelShape, makeDenseModel } from "./make-dense-model.js";


const DEMO_SHAPE: DenseModelShape = {
	modelType: "llama",
	hiddenSize: 64,
	numLayers: 4,
	numHeads: 4,
	numKvHeads: 2,
	intermediateSize: 128,
	// The Mistral tokenizer's vocabulary, so the tokenizer shipped with the output fits the embeddings.
	vocabSize: 32000,
};

const MODELS = [
	{ name: "base", seed: 1 },
	{ name: "expert-code", seed: 2 },
	{ name: "expert-story", seed: 3 },
	{ name: "expert-math", seed: 4 },
];

async function main(): Promise<void> {
	const root = resolve(process.argv[2] ?? DEMO_FOLDER);
	const log = (line: string) => process.stderr.write(`${line}\n`);
	log(`demo folder: ${root}`);
	// Made afresh on every run, so the demo can be run again.
	await rm(join(root, "models"), { recursive: true, force: true });
	for (const model of MODELS) {
		const dir = join(root, "models", model.name);
		await makeDenseModel({ dir, shape: DEMO_SHAPE, seed: model.seed, dtype: "BF16" });
		log(`  made dense model ${model.name} (Llama, ${DEMO_SHAPE.numLayers} layers, hidden ${DEMO_SHAPE.hiddenSize})`);
	}
	const tokenizerDir = join(PACKAGE_ROOT, "demo", "tokenizer");
	for (const file of await readdir(tokenizerDir)) {
		if (file.startsWith("tokenizer")) await copyFile(join(tokenizerDir, file), join(root, "models", "base", file));
	}
	const recipeFile = join(root, "recipe.yml");
	await mkdir(root, { recursive: true });
	// recipes/demo.yml finds the models from recipes/; its copy beside them finds them as ./models/.
	const text = await readFile(join(PACKAGE_ROOT, "recipes", "demo.yml"), "utf8");
	const copy = text.replaceAll(`../${DEMO_FOLDER}/models/`, "./models/");
	if (copy === text) throw new Error(`recipes/demo.yml does not name ../${DEMO_FOLDER}/models/`);
	await writeFile(recipeFile, copy);
	const recipe = await loadRecipe(recipeFile);
	const progress = createProgressReporter(process.stderr, "auto");
	const result = await runMerge(recipe, {
		outputDir: join(root, "moe"),
		overwrite: true,
		seed: 1234,
		onGateProgress: (p) => progress.gates(p),
		onProgress: (p) => progress.writing(p),
	});
	progress.stop();
	for (const w of result.warnings) log(`warning: ${w}`);
	process.stdout.write(
		[
			`wrote ${result.outputDir}: ${result.architecture} with ${result.numExperts} experts, ${result.tensors} tensors, ${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s`,
			`files: ${result.files.join(", ")}`,
			`try: npx moe-merge plan ${recipeFile}   (or edit ${recipeFile} and merge again with npx moe-merge ${recipeFile} ${join(root, "moe")} --overwrite)`,
			"",
		].join("\n"),
	);
}

main().catch((error: unknown) => {
	const { text, exitCode } = describeError(error, process.argv.includes("--verbose"));
	process.stderr.write(`${text}\n`);
	process.exitCode = exitCode;
});
