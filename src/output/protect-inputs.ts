import { readdir, realpath } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { OutputError } from "../errors.js";
import type { ModelRef, Recipe } from "../recipe/index.js";

/**
 * Refuses an output folder that is, contains or lies inside a folder an input model is read from:
 * writing there (or replacing it with --overwrite) would destroy the input. Paths are compared after
 * resolving symlinks, so a link to a model folder or a Hugging Face cache snapshot is caught too.
 */
export async function checkOutputSparesInputs(outputDir: string, inputDirs: readonly string[]): Promise<void> {
	const output = await realPathOf(outputDir);
	for (const dir of inputDirs) {
		for (const folder of await foldersReadFrom(dir)) {
			const relation = relationOf(output, folder);
			if (!relation) continue;
			throw new OutputError(`output ${resolve(outputDir)} ${relation} ${folder}, which holds the input model ${dir}; writing there would destroy it`, {
				file: resolve(outputDir),
				hint: "choose an output folder outside every model folder the recipe reads (--overwrite does not change this)",
			});
		}
	}
}

/** The local folders a recipe names (Hub models are known only once resolved). */
export function localModelDirs(recipe: Recipe): string[] {
	const refs: ModelRef[] = [recipe.baseModel, ...recipe.experts.map((e) => e.source), ...recipe.sharedExperts.map((e) => e.source)];
	const local = (ref: ModelRef): string[] => (ref.kind === "local" ? [ref.path] : ref.kind === "lora" ? [...local(ref.base), ...local(ref.lora)] : []);
	return refs.flatMap(local);
}

/**
 * The real folders a model's files live in: the folder itself, the folders its symlinked files point
 * into (Hub cache blobs, or a folder linking to another model), and for a cache snapshot the whole
 * `models--org--name` repo folder, whose blobs every snapshot shares.
 */
async function foldersReadFrom(dir: string): Promise<string[]> {
	const real = await realPathOf(dir);
	const folders = new Set([real]);
	if (basename(dirname(real)) === "snapshots") folders.add(dirname(dirname(real)));
	let entries: string[] = [];
	try {
		entries = await readdir(real);
	} catch {
		// An unreadable folder is reported by the model reader; its own path is still protected.
	}
	for (const name of entries) {
		const target = await realpath(join(real, name)).catch(() => undefined);
		if (target) folders.add(dirname(target));
	}
	return [...folders];
}

/** How `output` relates to `input`, or undefined when neither holds the other. */
function relationOf(output: string, input: string): string | undefined {
	if (output === input) return "is";
	if (isInside(input, output)) return "contains";
	if (isInside(output, input)) return "lies inside";
	return undefined;
}

function isInside(child: string, parent: string): boolean {
	const rel = relative(parent, child);
	return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep);
}

/** realpath of a path that may not exist yet: the deepest existing ancestor resolved, the rest appended. */
async function realPathOf(path: string): Promise<string> {
	const absolute = resolve(path);
	const missing: string[] = [];
	for (let p = absolute; ; p = dirname(p)) {
		try {
			return join(await realpath(p), ...missing.reverse());
		} catch {
			if (dirname(p) === p) return absolute;
			missing.push(basename(p));
		}
	}
}
