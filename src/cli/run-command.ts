/**
 * What every command does around its work, once: Ctrl-C and SIGTERM abort it (a second signal does not
 * kill the clean-up; the exit code is 128 + the signal's number), Hub access opened once per run with
 * transfers drawn on stderr, failures reported the same way (a message, --json on stdout, a stack only
 * with --verbose) with the named exit codes.
 */
import { constants } from "node:os";
import { MoeMergeError } from "../errors.js";
import { type HubAccess, type HubContext, openHub } from "../hub/hub-context.js";
import type { HubOptions } from "../hub/hub-options.js";
import type { Recipe } from "../recipe/index.js";
import { EXIT_INTERRUPTED, EXIT_OK, describeError, errorToJson } from "./report-error.js";
import { type TransferReporter, createTransferReporter } from "./transfer-progress-bar.js";

/** The options every command has. */
export interface CommandIo {
	json?: boolean;
	verbose?: boolean;
}

export interface CommandRun {
	signal: AbortSignal;
	/** The Hub bar; commands stop it when their own display takes over. */
	transfers: TransferReporter;
	/** The Hub context of this run, opened at the first call: the token is looked up once. */
	hub(): Promise<HubContext>;
	/** Hub access for a recipe: the run's context when it names Hub models, else nothing to open. */
	hubFor(recipe: Recipe): Promise<HubAccess | undefined>;
	/** What an interruption says from now on (e.g. how to resume a push); read when it is reported, so it may be set after the signal. */
	setInterruptMessage(message: string, hint?: string): void;
	/** The signal that interrupted the run, once one has. */
	interruptedBy(): NodeJS.Signals | undefined;
}

/**
 * Runs a command's work and sets the exit code: the work's (default EXIT_OK), the error's (1 for a
 * MoeMergeError, 2 for a bug), or 128 + the signal's number after a signal (EXIT_INTERRUPTED for Ctrl-C).
 */
export async function runCommand(io: CommandIo, interruptMessage: string, work: (run: CommandRun) => Promise<number | void>): Promise<void> {
	const abort = new AbortController();
	let interruption = { message: interruptMessage, hint: undefined as string | undefined };
	let signal: NodeJS.Signals | undefined;
	// Stays installed until the process exits: a second Ctrl-C must not kill the clean-up.
	const onSignal = (name: NodeJS.Signals) => {
		signal ??= name;
		abort.abort(new MoeMergeError(interruption.message));
	};
	process.on("SIGINT", onSignal);
	process.on("SIGTERM", onSignal);
	const transfers = createTransferReporter(process.stderr, io.json ? "quiet" : "auto");
	const options: HubOptions = {
		onProgress: (p) => transfers.update(p),
		onWarning: (warning) => process.stderr.write(`warning: ${warning}\n`),
		signal: abort.signal,
	};
	let opened: Promise<HubContext> | undefined;
	const hub = () => (opened ??= openHub(options));
	const run: CommandRun = {
		signal: abort.signal,
		transfers,
		hub,
		hubFor: async (recipe) => (namesHubModels(recipe) ? hub() : undefined),
		setInterruptMessage: (message, hint) => {
			interruption = { message, hint };
		},
		interruptedBy: () => signal,
	};
	try {
		process.exitCode = (await work(run)) ?? EXIT_OK;
	} catch (error) {
		transfers.stop();
		reportFailure(abort.signal.aborted ? new MoeMergeError(interruption.message, { hint: interruption.hint }) : error, io);
		if (abort.signal.aborted) process.exitCode = signal ? 128 + constants.signals[signal] : EXIT_INTERRUPTED;
	} finally {
		transfers.stop();
	}
}

/** Prints an error (and its JSON form with --json) and sets the exit code it implies. */
export function reportFailure(error: unknown, io: CommandIo): void {
	const { text, exitCode } = describeError(error, io.verbose === true);
	if (io.json) process.stdout.write(`${JSON.stringify(errorToJson(error), null, 2)}\n`);
	process.stderr.write(`${text}\n`);
	process.exitCode = exitCode;
}

function namesHubModels(recipe: Recipe): boolean {
	const refs = [recipe.baseModel, ...[...recipe.experts, ...recipe.sharedExperts].map((e) => e.source)];
	return refs.some((ref) => ref.kind === "hub");
}
