/**
 * `merge` is the default command, so commander hands any first word to it as a recipe file: a typo
 * of a command (`moe-merge mrege r.yml out`) then fails as "too many arguments", and a stray word as
 * "no output folder given". A first word that is neither a command, nor an existing file, nor shaped
 * like a recipe path is an unknown command, with the closest command name suggested.
 */
import { existsSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { MoeMergeError } from "../errors.js";
import { closest } from "../recipe/suggest.js";

/** Endings that make a missing first word a recipe path ("no such recipe file"), not a command. */
const RECIPE_ENDINGS = new Set([".yml", ".yaml", ".json"]);

/** Throws for an unknown command word in `args` (the arguments after the program name); returns otherwise. */
export function checkCommandWord(program: Command, args: readonly string[]): void {
	const word = args[0];
	if (word === undefined || word.startsWith("-")) return;
	const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
	if (names.includes(word) || word === "help") return;
	if (existsSync(word) || /[/\\]/.test(word) || RECIPE_ENDINGS.has(extname(word).toLowerCase())) return;
	const suggestion = closest(word, names);
	throw new MoeMergeError(`unknown command "${word}"${suggestion ? `; did you mean "${suggestion}"?` : ""}`, {
		hint: `the commands are ${names.join(", ")}; to merge, name the recipe file: moe-merge recipe.yml OUTPUT_DIR (moe-merge --help)`,
	});
}
