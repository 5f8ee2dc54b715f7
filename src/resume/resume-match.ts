import { join } from "node:path";
import { sha256Files } from "../lock/hash-files.js";
import type { ResumeRecord } from "./resume-record.js";

/**
 * Why the partial folder a record describes cannot be continued by the job `current` describes (empty
 * when it can): each reason names what changed: the recipe line, the option, the input file, the tool.
 * An input file whose size, mtime or inode changed is still the same input when its sha256 is the one
 * recorded (a copy, a `touch`); without a recorded sha256 it counts as changed.
 */
export async function resumeMismatches(recorded: ResumeRecord, current: ResumeRecord, modelDirs: ReadonlyMap<string, string>): Promise<string[]> {
	const reasons: string[] = [];
	if (recorded.tool !== current.tool) reasons.push(`it was written by ${recorded.tool}, this is ${current.tool}`);
	if (recorded.recipe.sha256 !== current.recipe.sha256) reasons.push(`the recipe changed: ${firstDifference(recorded.recipe.text, current.recipe.text)}`);
	const was = recorded.options;
	const now = current.options;
	if (was.seed !== now.seed) reasons.push(`--random-seed was ${was.seed}, is now ${now.seed}`);
	if (was.layout !== now.layout) reasons.push(`--layout was ${was.layout}, is now ${now.layout}`);
	if (was.shardSize !== now.shardSize) reasons.push(`--out-shard-size was ${was.shardSize} bytes, is now ${now.shardSize}`);
	if (reasons.length === 0) reasons.push(...shardPlanDifferences(recorded, current));
	reasons.push(...(await inputDifferences(recorded, current, modelDirs)));
	return reasons;
}

/** Same recipe and options but other shards: an input's shapes, dtype or config changed what is written. */
function shardPlanDifferences(recorded: ResumeRecord, current: ResumeRecord): string[] {
	const was = recorded.shards.map((s) => s.name).join(", ");
	const now = current.shards.map((s) => s.name).join(", ");
	if (was !== now) return [`the planned shards were ${was}, are now ${now}`];
	const changed = current.shards.find((s, i) => s.header !== recorded.shards[i]?.header || s.bytes !== recorded.shards[i]?.bytes);
	return changed ? [`the tensors planned for ${changed.name} differ (names, dtypes or shapes)`] : [];
}

async function inputDifferences(recorded: ResumeRecord, current: ResumeRecord, modelDirs: ReadonlyMap<string, string>): Promise<string[]> {
	const reasons: string[] = [];
	const before = new Map(recorded.inputs.map((i) => [i.model, i]));
	const toHash: { model: string; name: string; path: string; sha256: string }[] = [];
	for (const input of current.inputs) {
		const old = before.get(input.model);
		if (!old) {
			reasons.push(`${input.model} was not an input of the interrupted merge`);
			continue;
		}
		if (old.commit !== input.commit) reasons.push(`${input.model} resolved to commit ${old.commit ?? "(none)"}, now to ${input.commit ?? "(none)"}`);
		const files = new Map(old.files.map((f) => [f.name, f]));
		for (const file of input.files) {
			const was = files.get(file.name);
			files.delete(file.name);
			if (!was) reasons.push(`${input.model}: ${file.name} is new`);
			else if (was.stamp === file.stamp) continue;
			else if (file.stamp === "missing") reasons.push(`${input.model}: ${file.name} is gone`);
			else if (was.sha256) toHash.push({ model: input.model, name: file.name, path: join(modelDirs.get(input.model) ?? "", file.name), sha256: was.sha256 });
			else reasons.push(`${input.model}: ${file.name} changed since the interrupted merge (size, time or inode; its sha256 had not been recorded yet)`);
		}
		for (const name of files.keys()) reasons.push(`${input.model}: ${name} was read by the interrupted merge and is no longer an input`);
	}
	const hashes = await sha256Files(toHash.map((f) => f.path));
	for (const f of toHash) {
		const sha256 = hashes.get(f.path);
		if (sha256 !== f.sha256) reasons.push(`${f.model}: ${f.name} changed since the interrupted merge (sha256 ${f.sha256.slice(0, 12)}…, now ${sha256?.slice(0, 12)}…)`);
	}
	return reasons;
}

/** `line 3 was "…", is now "…"`: the first line that differs between two texts. */
export function firstDifference(was: string, now: string): string {
	const a = was.split("\n");
	const b = now.split("\n");
	for (let i = 0; i < Math.max(a.length, b.length); i++) {
		if (a[i] !== b[i]) return `line ${i + 1} was ${quote(a[i])}, is now ${quote(b[i])}`;
	}
	return "its text differs";
}

function quote(line: string | undefined): string {
	return line === undefined ? "(no line)" : JSON.stringify(line.length > 80 ? `${line.slice(0, 77)}...` : line);
}
