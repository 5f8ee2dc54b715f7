/**
 * What the model card says about each source model: its Hub id (the Hub repo it came from, or for a
 * local folder the `_name_or_path` of its config.json when that is a Hub id: transformers records there
 * the repo a model was loaded from) and the license in its own card's front matter, when it has a card.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { repoIdProblem } from "../hub/repo-id.js";

export interface CardSource {
	role: string;
	/** The reference as the recipe wrote it. */
	label: string;
	commit?: string;
	/** The Hub id for `base_model`, links and tags; undefined for a local folder without one. */
	hubId?: string;
	/** "config": a local folder whose config.json names this Hub id (no commit is known). */
	hubIdFrom?: "hub" | "config";
	/** `license` of the model's README.md front matter. */
	license?: string;
}

export interface SourceModel {
	role: string;
	label: string;
	dir: string;
	commit?: string;
	/** The Hub repo for Hub references. */
	hubRepo?: string;
	/** The model's config.json as read. */
	config: Record<string, unknown>;
}

/** `org/name` that the Hub would accept (not a path, not `./x`). */
export function isHubId(text: unknown): text is string {
	return typeof text === "string" && text.split("/").length === 2 && repoIdProblem(text) === undefined;
}

export async function describeCardSource(model: SourceModel): Promise<CardSource> {
	const fromConfig = model.config._name_or_path;
	const hubId = model.hubRepo ?? (isHubId(fromConfig) ? fromConfig : undefined);
	return {
		role: model.role,
		label: model.label,
		commit: model.commit,
		hubId,
		hubIdFrom: model.hubRepo ? "hub" : hubId ? "config" : undefined,
		license: await cardLicense(model.dir),
	};
}

/** The `license` of `dir/README.md`'s YAML front matter; undefined without a card, front matter or license. */
export async function cardLicense(dir: string): Promise<string | undefined> {
	let text: string;
	try {
		text = await readFile(join(dir, "README.md"), "utf8");
	} catch {
		return undefined;
	}
	const front = /^---\r?\n([\s\S]*?)\r?\n---\r?\n/.exec(text);
	if (!front) return undefined;
	try {
		const license = (parse(front[1]!) as Record<string, unknown> | null)?.license;
		return typeof license === "string" && license.trim() !== "" ? license.trim() : undefined;
	} catch {
		// A card with broken front matter just has no license we can read.
		return undefined;
	}
}
