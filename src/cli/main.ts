#!/usr/bin/env node
import { buildProgram } from "./program.js";
import { describeError } from "./report-error.js";
import { checkCommandWord } from "./unknown-command.js";

// `moe-merge plan r.yml | head`: a reader that stops early ends the output, not in a crash.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
	if (error.code !== "EPIPE") throw error;
	process.exit(process.exitCode ?? 0);
});

// Commands set process.exitCode themselves; anything thrown here escaped them and is a bug.
const program = buildProgram();
Promise.resolve()
	.then(() => checkCommandWord(program, process.argv.slice(2)))
	.then(() => program.parseAsync(process.argv))
	.catch((error: unknown) => {
		const { text, exitCode } = describeError(error, process.argv.includes("--verbose"));
		process.stderr.write(`${text}\n`);
		process.exitCode = exitCode;
	});
