import { stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { TOKENIZER_FILE } from "../checkpoint/side-files.js";
import { expertOrigins } from "../merge/expert-origins.js";
import { closeMergePlan, planMerge } from "../merge/plan-merge.js";
import { planMergeGguf } from "../merge/merge-gguf.js";
import { checkOutputTarget, freeBytes } from "../output/output-target.js";
import { describeAbandoned, findAbandonedPartials } from "../resume/abandoned-partials.js";
import { checkOutputSparesInputs, localModelDirs } from "../output/protect-inputs.js";
import { loadRecipe } from "../recipe/index.js";
import { dtypeBytes } from "../safetensors/index.js";
import { formatBytes } from "../util/size.js";
import { outputDirOf } from "./output-dir.js";
import { planOptionsOf } from "./plan-options.js";
import type { MergeCliOptions } from "./merge-cli-options.js";
import { runCommand } from "./run-command.js";
import { streamFigures } from "../merge/stream-figures.js";

/** `moe-merge plan`: everything the merge would do, without writing; refuses early when the disk is too small. */
export async function runPlanCommand(recipeFile: string, output: string | undefined, options: MergeCliOptions): Promise<void> {
	await runCommand(options, "interrupted", async (run) => {
		const outDir = outputDirOf(output, options.output, false);
		// Refused before resolving models, as merge does.
		if (outDir) await checkOutputTarget(outDir, { overwrite: options.overwrite });
		const recipe = await loadRecipe(recipeFile, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
		if (outDir) await checkOutputSparesInputs(outDir, localModelDirs(recipe));
		const abandoned = outDir ? await findAbandonedPartials(outDir) : [];
		// The router values do not change the plan: skip the forward pass of hidden-state gates.
		const plan = await planMerge(recipe, {
			...planOptionsOf(options),
			hiddenGates: "skip",
			headersOnly: true,
			hub: await run.hubFor(recipe),
		});
		// --no-local-copy: what a merge streamed from the Hub to the Hub needs (read before the files close).
		const stream = options.localCopy === false ? streamFigures(plan) : undefined;
		// GGUF files (--gguf): planned like the merge plans them, so what llama.cpp cannot take is refused here too.
		// A Hub base's tokenizer files are not downloaded by plan: then the merge checks them before writing.
		const base = plan.models[plan.base];
		const noTokenizer = Boolean(options.gguf?.length) && base.ref.kind === "hub" && !(await stat(join(base.dir, TOKENIZER_FILE)).then(() => true, () => false));
		const gguf = await planMergeGguf(plan, outDir ?? "output", noTokenizer ? [] : (options.gguf ?? []), { copyTokenizer: options.copyTokenizer !== false }).finally(() => closeMergePlan(plan));
		const ggufBytes = gguf.reduce((sum, f) => sum + f.layout.fileBytes, 0);
		run.transfers.stop();
		const free = outDir ? await freeBytes(dirname(resolve(outDir))) : undefined;
		const summary = {
			ok: true,
			recipe: recipe.file,
			architecture: plan.architecture.displayName,
			architectureReason: plan.architectureChoice.reason,
			architecturesPassedOver: plan.architectureChoice.passedOver,
			layout: plan.layout,
			dtype: plan.config.torch_dtype,
			gateMode: recipe.gateMode,
			// Without --random-seed the merge draws its own: showing the plan's would promise a seed it will not use.
			seed: options.randomSeed ?? null,
			models: plan.models.map((m, i) => ({
				label: m.label,
				dir: m.dir,
				commit: m.commit,
				modelType: m.config.modelType,
				// An MoE source: its architecture, and the expert read as the dense model's MLP.
				moe: m.moe && { architecture: m.moe.spec.arch.displayName, experts: m.moe.spec.experts, expert: m.moe.expert },
				roles: [
					i === plan.base ? "base" : undefined,
					...plan.experts.flatMap((x, e) => (x === i ? [`expert ${e}`] : [])),
					...plan.sharedExperts.flatMap((x, e) => (x === i ? [`shared expert ${e}`] : [])),
				].filter(Boolean),
			})),
			experts: expertOrigins(plan),
			// A base MoE's shared expert, kept because the recipe lists none.
			sharedExpertKept: plan.keptSharedExpert !== undefined,
			tensors: plan.tensors.length,
			tensorBytes: plan.dataBytes,
			diskBytes: plan.fileBytes,
			shards: plan.shards.map((s) => ({ file: s.fileName, tensors: s.tensors.length, bytes: s.headerBytes + s.dataBytes })),
			gguf: gguf.map((f) => ({ file: f.fileName, type: f.type, tensors: f.plan.tensors.length, bytes: f.layout.fileBytes })),
			output: outDir ? { dir: resolve(outDir), freeBytes: free } : undefined,
			stream,
			warnings: [
				...abandoned.map(describeAbandoned),
				...plan.warnings,
				...(noTokenizer ? [`--gguf: the GGUF files are not planned: plan does not download ${base.label}'s tokenizer files (the merge reads them and checks them before writing anything)`] : []),
				...new Set(gguf.flatMap((f) => f.plan.warnings.map((w) => `GGUF: ${w}`))),
			],
			byTensor: options.verbose ? plan.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.shape.reduce((a, b) => a * b, 1) * dtypeBytes(t.dtype) })) : undefined,
		};
		if (outDir) await checkOutputTarget(outDir, { overwrite: options.overwrite, requiredBytes: plan.fileBytes + ggufBytes, leftovers: abandoned, inputs: plan.models.map((m) => m.dir) });
		if (options.json) {
			process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
			return;
		}
		const out = process.stdout;
		out.write(`recipe: ${recipe.file}\n`);
		for (const m of summary.models) out.write(`  ${m.roles.join(", ")}: ${m.label} -> ${m.dir}${m.commit ? ` @ ${m.commit}` : ""} (${m.moe ? `${m.moe.architecture} of ${m.moe.experts} experts, read as ${m.modelType}${m.moe.expert === undefined ? "" : ` with its expert ${m.moe.expert}`}` : m.modelType})\n`);
		out.write("experts:\n");
		summary.experts.forEach((o, e) => out.write(`  ${e}: ${o.text}\n`));
		if (summary.sharedExpertKept) out.write("  shared expert: the base MoE's, kept (with its gate row)\n");
		out.write(`output: ${summary.architecture} (${summary.layout} layout), ${summary.dtype}, gate mode ${summary.gateMode}, ${summary.seed === null ? "seed not chosen yet (the merge draws one and records it in the model card; --random-seed N fixes it)" : `seed ${summary.seed}`}\n`);
		out.write(`  because ${summary.architectureReason}\n`);
		for (const p of summary.architecturesPassedOver) out.write(`  not ${p.name}: ${p.reason}\n`);
		out.write(`tensors: ${summary.tensors}, ${formatBytes(summary.tensorBytes)} of data, ${formatBytes(summary.diskBytes)} on disk in ${summary.shards.length} shard(s)\n`);
		for (const s of summary.shards) out.write(`  ${s.file}: ${s.tensors} tensors, ${formatBytes(s.bytes)}\n`);
		if (gguf.length > 0) out.write(`GGUF (--gguf, written from the same stream): ${formatBytes(ggufBytes)}\n`);
		for (const g of summary.gguf) out.write(`  ${g.file}: ${g.tensors} tensors, ${g.type.toUpperCase()}, ${formatBytes(g.bytes)}\n`);
		if (stream) {
			out.write(`streamed (--no-local-copy): disk ${formatBytes(stream.diskBytes)} (two shards) plus the small files; reads ${formatBytes(stream.readBytes)} of ${formatBytes(stream.inputFileBytes)} of Hub weights, uploads ${formatBytes(stream.uploadBytes)}\n`);
			out.write(`  time to move them: ${stream.hoursAt.map((t) => `${formatHours(t.hours)} at ${formatBytes(t.bytesPerSecond)}/s`).join(", ")} (one after the other; at most)\n`);
		}
		if (summary.output) out.write(`target: ${summary.output.dir} (${free === undefined ? "free space unknown" : `${formatBytes(free)} free`})\n`);
		for (const w of summary.warnings) out.write(`warning: ${w}\n`);
	});
}

function formatHours(hours: number): string {
	return hours >= 1 ? `${hours.toFixed(1)} h` : `${Math.ceil(hours * 60)} min`;
}
