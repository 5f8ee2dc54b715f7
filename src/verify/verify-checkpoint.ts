import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { CheckpointError } from "../errors.js";
import { ModelWeights } from "../safetensors/model-weights.js";
import { checkConfigAgainstTensors } from "./check-config-tensors.js";
import { checkGgufFiles } from "./check-gguf-files.js";
import { checkLockHashes } from "./check-lock-hashes.js";
import { checkTokenizerFiles } from "./check-tokenizer-files.js";
import { closeShards, openCheckpointShards } from "./open-checkpoint-shards.js";
import type { CheckpointProblem } from "./problem.js";
import { scanValues } from "./scan-values.js";

export interface VerifyOptions {
	/** Re-read every file for its sha256 when a moe-merge.lock.json is there (default true). */
	hashes?: boolean;
	/** Check the tokenizer files (default true): JSON that parses, and a warning when there is no tokenizer. */
	tokenizer?: boolean;
	/** Scan every floating-point tensor for NaN and Inf (default false: it reads all the weights). */
	values?: boolean;
}

export interface VerifyReport {
	dir: string;
	ok: boolean;
	problems: CheckpointProblem[];
	shards: number;
	tensors: number;
	/** Files whose sha256 was checked against the lock (undefined: no lock, or not asked). */
	hashedFiles?: number;
	/** Tensors scanned for NaN/Inf (undefined: not asked). */
	scannedTensors?: number;
	/** Checks that could not be made, and why. */
	notes: string[];
	/** What does not make the checkpoint broken but limits its use (no tokenizer). */
	warnings: CheckpointProblem[];
}

/**
 * Checks a finished checkpoint folder (ours, mergekit-moe's, any MoE of the architectures we write):
 * shard headers and sizes, the index against the shards, config.json against the tensor names and
 * shapes, tokenizer files, and the lock's sha256 of every file. Collects every problem instead of
 * stopping at the first; throws only when `dir` is not a folder.
 */
export async function verifyCheckpoint(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
	const folder = resolve(dir);
	const info = await stat(folder).catch(() => undefined);
	if (!info?.isDirectory()) throw new CheckpointError(`${folder} is not a folder`, { file: folder, hint: "moe-merge verify <checkpoint folder>" });
	const shards = await openCheckpointShards(folder);
	const notes: string[] = [];
	try {
		const problems = [...shards.problems];
		const config = await checkConfigAgainstTensors(folder, shards.tensors, shards.unreadable);
		problems.push(...config.problems);
		if (config.skipped) notes.push(`tensor names not checked: ${config.skipped}`);
		const warnings: CheckpointProblem[] = [];
		if (options.tokenizer !== false) {
			const tokenizer = await checkTokenizerFiles(folder);
			problems.push(...tokenizer.problems);
			warnings.push(...tokenizer.warnings);
		}
		// GGUF files beside the weights: their headers against what the weights give (when the weights read).
		const weights = shards.problems.length === 0 && shards.files.length > 0 ? await ModelWeights.open(folder).catch(() => undefined) : undefined;
		try {
			problems.push(...(await checkGgufFiles(folder, weights)).problems);
		} finally {
			await weights?.close();
		}
		let hashedFiles: number | undefined;
		if (options.hashes !== false) {
			const lock = await checkLockHashes(folder);
			if (lock) problems.push(...lock.problems);
			hashedFiles = lock?.hashed;
			if (!lock) notes.push("no moe-merge.lock.json: file hashes not checked");
		}
		let scannedTensors: number | undefined;
		if (options.values) {
			const scan = await scanValues(shards.tensors);
			problems.push(...scan.problems);
			scannedTensors = scan.scanned;
		}
		// The cause first: what is wrong with a shard that cannot be read, before what follows from it.
		const unreadable = new Set(shards.unreadable);
		problems.sort((a, b) => Number(!unreadable.has(a.file)) - Number(!unreadable.has(b.file)));
		return { dir: folder, ok: problems.length === 0, problems, shards: shards.files.length, tensors: shards.tensors.size, hashedFiles, scannedTensors, notes, warnings };
	} finally {
		await closeShards(shards);
	}
}

/**
 * The cheap part of verify (headers, sizes, index, config against tensor names; no hashes, no values)
 * on a merge's own staging folder before it is renamed into place. A failure here is a bug in the
 * writer, not a user's mistake, hence a plain Error (exit 2).
 */
export async function checkMergedOutput(dir: string): Promise<void> {
	const report = await verifyCheckpoint(dir, { hashes: false, tokenizer: false });
	if (report.ok) return;
	const listed = report.problems.slice(0, 10).map((p) => `${p.file}: ${p.message}`).join("; ");
	throw new Error(`the merged output failed its own check (${report.problems.length} problem(s)): ${listed}`);
}
