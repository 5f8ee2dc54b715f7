import { MoeMergeError } from "../errors.js";
import { networkErrorCode } from "../hub/explain-hub-failure.js";
import { HubError } from "../hub/hub-error.js";
import { checkLocalModels, resolveRecipeModels } from "../merge/resolve-recipe-models.js";
import { type Recipe, loadRecipe } from "../recipe/index.js";
import { EXIT_BUG, EXIT_OK, EXIT_USER_ERROR, describeError, errorToJson } from "./report-error.js";
import { type CommandRun, runCommand } from "./run-command.js";

export interface ValidateCliOptions {
	json?: boolean;
	verbose?: boolean;
	iUnderstandThisIsNotUsefulWithoutTraining?: boolean;
	/** Fail a recipe whose Hub models cannot be checked (offline, or the Hub out of reach). */
	requireHub?: boolean;
}

/**
 * `moe-merge validate a.yml b.yml ...`: every recipe checked, all reported, exit 1 if any fails. When
 * the Hub cannot be reached (offline, no network), a recipe naming Hub models is valid as far as it can
 * be checked without them (schema, rules, local models): "needs the Hub", which --require-hub fails.
 */
export async function runValidateCommand(files: string[], options: ValidateCliOptions): Promise<void> {
	await runCommand(options, "interrupted", async (run) => {
		const results: Record<string, unknown>[] = [];
		let failed = 0;
		let unchecked = 0;
		let bug = false;
		/** Why the Hub could not be reached over the network, once known: the other recipes do not try again (offline, each looks in the cache). */
		let hubOutOfReach: string | undefined;
		for (const file of files) {
			try {
				const recipe = await loadRecipe(file, { allowSameModelExperts: options.iUnderstandThisIsNotUsefulWithoutTraining });
				const outcome = await validateModels(recipe, run, { requireHub: options.requireHub, hubOutOfReach });
				run.transfers.stop();
				if ("unchecked" in outcome) {
					if (outcome.network) hubOutOfReach = outcome.why;
					unchecked++;
					results.push({ file, ok: true, modelsChecked: false, needsHub: outcome.unchecked, reason: outcome.why });
					if (!options.json) {
						process.stdout.write(`ok: ${file}: schema and rules valid; models not checked: needs the Hub (${outcome.unchecked.join(", ")})\n  ${outcome.why}\n`);
					}
					continue;
				}
				const { resolved } = outcome;
				results.push({ file, ok: true, modelsChecked: true, architecture: resolved.architecture.displayName, experts: recipe.experts.length, warnings: resolved.warnings });
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
		else if (files.length > 1 || unchecked > 0) {
			const notChecked = unchecked > 0 ? `; the models of ${unchecked} not checked: they need the Hub (--require-hub makes that a failure)` : "";
			process.stdout.write(`${files.length - failed} of ${files.length} recipes valid${notChecked}\n`);
		}
		return bug ? EXIT_BUG : failed > 0 ? EXIT_USER_ERROR : EXIT_OK;
	});
}

type ModelsOutcome = { resolved: Awaited<ReturnType<typeof resolveRecipeModels>> } | { unchecked: string[]; why: string; network: boolean };

/**
 * Every model found and compared; or, when the Hub is out of reach (known from an earlier recipe, or
 * found now) and `requireHub` is not given, the local models alone and the Hub models left unchecked.
 */
async function validateModels(recipe: Recipe, run: CommandRun, options: { requireHub?: boolean; hubOutOfReach?: string }): Promise<ModelsOutcome> {
	const hub = await run.hubFor(recipe);
	if (hub && options.hubOutOfReach !== undefined && !options.requireHub) return { unchecked: (await checkLocalModels(recipe)).hubModels, why: options.hubOutOfReach, network: true };
	try {
		// Configs only: a Hub model's weights are not downloaded to validate a recipe.
		return { resolved: await resolveRecipeModels(recipe, { configOnly: true, hub }) };
	} catch (error) {
		if (!hub || options.requireHub || !(error instanceof HubError)) throw error;
		const context = await run.hub();
		// Offline, a Hub failure is a model missing from the cache; online, only a network failure means the Hub is out of reach.
		const code = networkErrorCode(error);
		if (!context.offline && code === undefined) throw error;
		run.transfers.stop();
		const why = context.offline ? "offline (HF_HUB_OFFLINE is set) and not all of them are in the local cache" : `${context.hubUrl} cannot be reached (${code})`;
		return { unchecked: (await checkLocalModels(recipe)).hubModels, why, network: !context.offline };
	}
}
