/** Writes report.json and report.html each through a temporary name and a rename, so neither is ever half-written. */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OutputError } from "../errors.js";

export const REPORT_JSON = "report.json";
export const REPORT_HTML = "report.html";

export async function writeReportFiles(dir: string, files: { name: string; text: string }[]): Promise<string[]> {
	try {
		await mkdir(dir, { recursive: true });
		const written: string[] = [];
		for (const { name, text } of files) {
			const path = join(dir, name);
			const partial = join(dir, `.${name}.partial-${process.pid}`);
			try {
				await writeFile(partial, text);
				await rename(partial, path);
			} catch (error) {
				await rm(partial, { force: true });
				throw error;
			}
			written.push(path);
		}
		return written;
	} catch (cause) {
		throw new OutputError(`${dir}: cannot write the report (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`, { file: dir, cause });
	}
}
