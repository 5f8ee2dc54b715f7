#!/usr/bin/env node
import { buildProgram } from "./program.js";
import { describeError } from "./report-error.js";
import { checkCommandWord } from "./unknown-command.js";

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
