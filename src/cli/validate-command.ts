import { MoeMergeError } from "../errors.js";
import { resolveRecipeModels } from "../merge/resolve-recipe-models.js";
import { loadRecipe } from "../recipe/index.js";
import { EXIT_BUG, EXIT_OK, EXIT_USER_ERROR, describeError, errorToJson } from "./report-error.js";
import { runCommand } from "./run-command.js";

/** `moe-merge validate a.yml b.yml ...`: every recipe checked, all reported, exit 1 if any fails. */
export async function runValidateCommand(
	files: string[],
	options: { json?: boolean; verbose?: boolean; iUnderstandThisIsNotUsefulWithoutTraining?: boolean },
): Promise<void> {
	await runCommand(options, "interrupted", async (run) => {
		const results: Record<string, unknown>[] = [];
		let failed = 0;
		let bug = false;
		for (const file of files) {
			try {
				const recipe = await loadRecipe(file, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
				// Configs only: a Hub model's weights are not downloaded to validate a recipe.
				const resolved = await resolveRecipeModels(recipe, { configOnly: true, hub: await run.hubFor(recipe) });
				run.transfers.stop();
				results.push({ file, ok: true, architecture: resolved.architecture.displayName, experts: recipe.experts.length, warnings: resolved.warnings });
				if (!options.json) {
					process.stdout.write(`ok: ${file} (${resolved.architecture.displayName}, ${recipe.experts.length} experts)\n`);
					for (const w of resolved.warnings) process.stdout.write(`  warning: ${w}\n`);
				}
			} catch (error) {
				// An interruption stops the whole run (reported once by runCommand).
				if (run.signal.aborted) throw error;
				run.transfers.stop();
				failed++;
				bug ||= !(error instanceof MoeMergeError);
				results.push({ file, ...errorToJson(error) });
				if (!options.json) process.stderr.write(`${describeError(error, options.verbose === true).text}\n`);
			}
		}
		if (options.json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, recipes: results }, null, 2)}\n`);
		else if (files.length > 1) process.stdout.write(`${files.length - failed} of ${files.length} recipes valid\n`);
		return bug ? EXIT_BUG : failed > 0 ? EXIT_USER_ERROR : EXIT_OK;
	});
}
