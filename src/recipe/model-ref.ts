/**
 * Model references as mergekit writes them: `org/name`, `org/name@revision` (Hugging Face Hub),
 * local folders, and `base+lora`. A folder that exists wins over a Hub name, like in transformers.
 */
import { statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { RecipeError } from "../errors.js";
import { repoIdProblem } from "../hub/repo-id.js";
import { expandHome } from "../util/home-paths.js";
import type { ModelRef } from "./types.js";

/** The revision of a Hub reference that names none: the repo's default branch. */
export const DEFAULT_REVISION = "main";

type PlainRef = Extract<ModelRef, { kind: "local" | "hub" }>;

/**
 * Classifies one model reference. Throws a RecipeError without position (the caller adds it)
 * when the text cannot be a model reference.
 */
export function parseModelRef(text: string, baseDir: string): ModelRef {
	if (text.trim() === "") throw new RecipeError("empty model reference");
	if (isFolder(localPath(text, baseDir))) return { kind: "local", path: localPath(text, baseDir), text };
	// mergekit splits on every "+": exactly two parts are base+lora, more is an error.
	const parts = text.split("+");
	if (parts.length === 2) {
		const [base, lora] = parts;
		if (base === "" || lora === "") throw new RecipeError(`"${text}" is not a model reference: expected base+lora with both parts`);
		return { kind: "lora", base: parsePlainRef(base, baseDir), lora, text };
	}
	if (parts.length > 2) throw new RecipeError(`"${text}" has more than one "+"; expected a model, optionally followed by +lora`);
	return parsePlainRef(text, baseDir);
}

/** A model without a LoRA part: local folder or Hub repo (with optional @revision). */
export function parsePlainRef(text: string, baseDir: string, revision?: string): PlainRef {
	if (text.trim() === "") throw new RecipeError("empty model reference");
	const whole = localPath(text, baseDir);
	if (isFolder(whole) || looksLikePath(text)) return localRef(text, baseDir);

	let name = text;
	let rev = revision;
	const at = text.split("@");
	if (at.length > 2) throw new RecipeError(`"${text}" has more than one "@"; expected org/name@revision`);
	if (at.length === 2) {
		if (rev !== undefined) throw new RecipeError(`"${text}" gives a revision twice (after "@" and as revision:)`);
		[name, rev] = at;
	}
	const slashes = name.split("/").length - 1;
	// A bare name, or a path with several parts, is a folder; only `org/name` is a Hub repo.
	if (slashes !== 1 || isFolder(localPath(name, baseDir))) return localRef(text, baseDir);

	const problem = repoIdProblem(name);
	if (problem !== undefined) {
		throw new RecipeError(`"${text}" is not a valid Hugging Face repo id (${problem}); for a local folder write ./${text}`);
	}
	if (rev !== undefined && (rev === "" || /\s/.test(rev))) {
		throw new RecipeError(`"${text}" has an invalid revision ${JSON.stringify(rev)}: expected a branch, tag or commit without spaces`);
	}
	return rev === undefined ? { kind: "hub", repo: name, text } : { kind: "hub", repo: name, revision: rev, text };
}

function looksLikePath(text: string): boolean {
	return text.startsWith(".") || text.startsWith("/") || text.startsWith("~") || text.includes("\\") || isAbsolute(text);
}

/** Revisions mean nothing to a folder: `./model@v2` is that folder, else `./model` (as in mergekit). */
function localRef(text: string, baseDir: string): PlainRef {
	const path = localPath(text, baseDir);
	const at = text.lastIndexOf("@");
	if (!isFolder(path) && at > 0 && text.indexOf("@") === at) {
		const before = localPath(text.slice(0, at), baseDir);
		if (isFolder(before)) return { kind: "local", path: before, text };
	}
	return { kind: "local", path, text };
}

function localPath(text: string, baseDir: string): string {
	return resolve(baseDir, expandHome(text));
}

function isFolder(path: string): boolean {
	try {
		return statSync(path).isDirectory();
	} catch {
		return false; // missing, unreadable, or not a valid path at all (NUL bytes)
	}
}

/**
 * Equal for two references to the same model (folders resolved, a Hub repo without a revision is its
 * `main`, as the Hub resolves it): the one key of the same-model rule, model resolution and the lock.
 */
export function modelKey(ref: ModelRef): string {
	switch (ref.kind) {
		case "local":
			return `local:${ref.path}`;
		case "hub":
			return `hub:${ref.repo}@${ref.revision ?? DEFAULT_REVISION}`;
		case "lora":
			return `lora:${modelKey(ref.base)}+${ref.lora}`;
	}
}
