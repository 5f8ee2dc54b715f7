/**
 * Typed errors. Every error a user can cause is a MoeMergeError: the CLI prints its message (no stack
 * unless --verbose) and exits 1. Anything else that escapes is a bug (exit 2).
 */
export interface MoeMergeErrorOptions {
	/** The file the error is about (recipe, config.json, safetensors shard, output folder). */
	file?: string;
	/** What the user can do about it. */
	hint?: string;
	cause?: unknown;
}

export class MoeMergeError extends Error {
	readonly file?: string;
	readonly hint?: string;
	constructor(message: string, options: MoeMergeErrorOptions = {}) {
		super(message, options.cause === undefined ? undefined : { cause: options.cause });
		this.name = new.target.name;
		this.file = options.file;
		this.hint = options.hint;
	}
	/** One-line-per-fact text for the CLI. */
	describe(): string {
		const lines = [this.message];
		if (this.hint) lines.push(`hint: ${this.hint}`);
		return lines.join("\n");
	}
}

/** A recipe that does not parse, does not match the schema, or breaks a semantic rule. */
export class RecipeError extends MoeMergeError {
	readonly line?: number;
	readonly column?: number;
	/** JSON-pointer-like path of the field, e.g. `experts[1].source_model`. */
	readonly fieldPath?: string;
	constructor(message: string, options: MoeMergeErrorOptions & { line?: number; column?: number; fieldPath?: string } = {}) {
		super(message, options);
		this.line = options.line;
		this.column = options.column;
		this.fieldPath = options.fieldPath;
	}
}

/** A safetensors file or index that is corrupt, truncated or inconsistent. */
export class SafetensorsError extends MoeMergeError {}

/** An input model that is missing, unsupported or incompatible with the others. */
export class ModelError extends MoeMergeError {}

/** The output folder cannot be written (exists, no space, I/O error). */
export class OutputError extends MoeMergeError {}

/** A checkpoint folder given to `moe-merge verify` that cannot be checked at all (not a folder). */
export class CheckpointError extends MoeMergeError {}

/** Several errors found in one pass (e.g. `validate` on a recipe with three mistakes). */
export class MultipleErrors extends MoeMergeError {
	readonly errors: MoeMergeError[];
	constructor(errors: MoeMergeError[]) {
		super(errors.map((e) => e.message).join("\n"));
		this.errors = errors;
	}
}
