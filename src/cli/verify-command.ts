import { join } from "node:path";
import { verifyCheckpoint, type VerifyReport } from "../verify/index.js";
import { EXIT_OK, EXIT_USER_ERROR } from "./report-error.js";
import { runCommand } from "./run-command.js";

/** Lines printed per file before "... and N more" (a config with a wrong layer count implies hundreds). */
const MAX_LINES_PER_FILE = 20;

/** `moe-merge verify <dir>`: exit 0 when the checkpoint is whole, 1 naming each file and what is wrong. */
export async function runVerifyCommand(dir: string, options: { values?: boolean; json?: boolean; verbose?: boolean }): Promise<void> {
	await runCommand(options, "interrupted", async () => {
		const report = await verifyCheckpoint(dir, { values: options.values });
		if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
		else writeReport(report);
		return report.ok ? EXIT_OK : EXIT_USER_ERROR;
	});
}

function writeReport(report: VerifyReport): void {
	const shown = new Map<string, number>();
	for (const { file, message } of report.problems) {
		const count = (shown.get(file) ?? 0) + 1;
		shown.set(file, count);
		if (count <= MAX_LINES_PER_FILE) process.stderr.write(`error: ${join(report.dir, file)}: ${message}\n`);
	}
	for (const [file, count] of shown) {
		if (count > MAX_LINES_PER_FILE) process.stderr.write(`error: ${join(report.dir, file)}: ... and ${count - MAX_LINES_PER_FILE} more\n`);
	}
	for (const { file, message } of report.warnings) process.stderr.write(`warning: ${join(report.dir, file)}: ${message}\n`);
	for (const note of report.notes) process.stderr.write(`note: ${note}\n`);
	const checked = [
		`${report.shards} shard(s)`,
		`${report.tensors} tensors`,
		report.hashedFiles !== undefined && `${report.hashedFiles} file hashes`,
		report.scannedTensors !== undefined && `${report.scannedTensors} tensors scanned for NaN/Inf`,
	].filter(Boolean);
	const verdict = report.ok ? "ok" : `${report.problems.length} problem(s)`;
	(report.ok ? process.stdout : process.stderr).write(`${verdict}: ${report.dir} (${checked.join(", ")})\n`);
}
