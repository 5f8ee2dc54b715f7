import { MoeMergeError } from "../errors.js";

/**
 * The output folder of `merge` and `plan`, from the argument or -o: two different ones are refused by
 * both; `merge` needs one, `plan` can do without (it then checks no folder).
 */
export function outputDirOf(argument: string | undefined, option: string | undefined, required: boolean): string | undefined {
	if (argument && option && argument !== option) {
		throw new MoeMergeError(`two output folders given: ${argument} and -o ${option}`);
	}
	const dir = argument ?? option;
	if (!dir && required) throw new MoeMergeError("no output folder given", { hint: "moe-merge recipe.yml OUTPUT_DIR (or -o OUTPUT_DIR)" });
	return dir;
}
