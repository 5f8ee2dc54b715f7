#!/usr/bin/env node
import { buildProgram } from "./program.js";
import { describeError } from "./report-error.js";

// Commands set process.exitCode themselves; anything thrown here escaped them and is a bug.
buildProgram()
	.parseAsync(process.argv)
	.catch((error: unknown) => {
		const { text, exitCode } = describeError(error, process.argv.includes("--verbose"));
		process.stderr.write(`${text}\n`);
		process.exitCode = exitCode;
	});
