import { formatBytes } from "../util/size.js";
import { HubError } from "./hub-error.js";
import { StoppableReads } from "./stoppable-reads.js";

/**
 * A request that the fetch wrapper itself ended (a timeout, a body over its limit, a Retry-After too
 * long): its message names the request; explainHubFailure puts the repo and file in front.
 */
export class HubRequestError extends HubError {}

/**
 * A request that got no answer, or whose body stopped, for longer than its timeout. It carries the code
 * of a network failure (a cached snapshot can stand in, as when the Hub is unreachable), but is not
 * retried blindly: a download resumes only after a stall that brought bytes (download-blob.ts).
 */
export class HubTimeoutError extends HubRequestError {
	readonly code = "ETIMEDOUT";
}

/** How one request is bounded. */
export interface RequestBounds {
	timeoutMs: number;
	/** The variable that sets the timeout, for the hint. */
	variable: string;
	/** Most bytes of the body read before it is refused (undefined: the caller bounds it). */
	bodyLimit?: number;
	/** What the request fetches, for messages: `GET 127.0.0.1:8080/api/models/org/name/revision/main`. */
	what: string;
}

/**
 * A timer that fails a request when nothing moves for `timeoutMs`: before the answer starts (connect,
 * headers; restarted by each piece of an upload body) and between two pieces of the answer's body.
 */
export class IdleDeadline {
	private readonly controller = new AbortController();
	/** Aborts with the caller's signal or when the deadline passes. */
	readonly signal: AbortSignal;
	private timer: NodeJS.Timeout | undefined;
	/** The body's reads, each rejected when the deadline passes. */
	readonly reads = new StoppableReads();
	error: HubTimeoutError | undefined;

	constructor(
		private readonly bounds: RequestBounds,
		parent?: AbortSignal | null,
	) {
		this.signal = parent ? eitherSignal(parent, this.controller) : this.controller.signal;
	}

	/** (Re)starts the wait: something moved, or a read begins. */
	touch(phase: "answer" | "body", bytesSoFar = 0): void {
		this.stop();
		this.timer = setTimeout(() => this.expire(phase, bytesSoFar), this.bounds.timeoutMs);
	}

	stop(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = undefined;
	}

	private expire(phase: "answer" | "body", bytesSoFar: number): void {
		const { timeoutMs, variable, what } = this.bounds;
		const s = `${timeoutMs / 1000} s`;
		const message =
			phase === "answer"
				? `no answer within ${s} (${what})`
				: `the answer stalled: nothing came for ${s}, after ${formatBytes(bytesSoFar)} of it (${what})`;
		this.error = new HubTimeoutError(message, {
			hint: `the Hub (or HF_ENDPOINT) is slow or not answering; run again (downloads resume), or wait longer per request with ${variable}=${Math.max(60, (timeoutMs / 1000) * 3)} (seconds, now ${timeoutMs / 1000})`,
		});
		this.controller.abort(this.error);
		this.reads.stop(this.error);
	}
}

/**
 * A signal aborted by `parent` or by `own`. AbortSignal.any (Node 20.3+) holds the parent weakly: one
 * listener per request on the run's long-lived signal would pile up (and warn past ten).
 */
function eitherSignal(parent: AbortSignal, own: AbortController): AbortSignal {
	const any = (AbortSignal as unknown as { any?: (signals: AbortSignal[]) => AbortSignal }).any;
	if (any) return any([parent, own.signal]);
	if (parent.aborted) own.abort(parent.reason);
	else parent.addEventListener("abort", () => own.abort(parent.reason), { once: true });
	return own.signal;
}

/** The error to throw for a failed fetch: the timeout when the deadline caused it. */
export function fetchFailure(deadline: IdleDeadline, error: unknown): unknown {
	return deadline.error ?? error;
}

/**
 * The response with its body read under the deadline (each read must bring bytes within the timeout) and
 * cut at `bodyLimit`: a huge or endless answer is refused as soon as it passes the limit, never buffered.
 */
export function boundedResponse(response: Response, deadline: IdleDeadline, bounds: RequestBounds): Response {
	const limit = bounds.bodyLimit;
	const declared = Number(response.headers.get("content-length"));
	if (limit !== undefined && declared > limit) {
		response.body?.cancel().catch(() => {});
		deadline.stop();
		throw tooLarge(bounds, limit);
	}
	if (!response.body) {
		deadline.stop();
		return response;
	}
	const reader = response.body.getReader();
	let received = 0;
	const body = new ReadableStream<Uint8Array>(
		{
			async pull(controller) {
				deadline.touch("body", received);
				let step: Awaited<ReturnType<typeof reader.read>>;
				try {
					step = await deadline.reads.read(reader);
				} catch (error) {
					deadline.stop();
					reader.cancel().catch(() => {});
					controller.error(fetchFailure(deadline, error));
					return;
				}
				deadline.stop();
				if (step.done) return controller.close();
				received += step.value.byteLength;
				if (limit !== undefined && received > limit) {
					reader.cancel().catch(() => {});
					controller.error(tooLarge(bounds, limit));
					return;
				}
				controller.enqueue(step.value);
			},
			cancel(reason) {
				deadline.stop();
				return reader.cancel(reason);
			},
		},
		{ highWaterMark: 0 },
	);
	const nullBody = response.status === 204 || response.status === 205 || response.status === 304;
	const bounded = new Response(nullBody ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
	// The library reads `url` (the address after redirects) from download probes.
	Object.defineProperty(bounded, "url", { value: response.url });
	Object.defineProperty(bounded, "redirected", { value: response.redirected });
	return bounded;
}

function tooLarge(bounds: RequestBounds, limit: number): HubError {
	return new HubRequestError(`the answer is larger than ${formatBytes(limit)}, the most moe-merge reads for it (${bounds.what}); refusing it`, {
		hint: "the server is not behaving like the Hugging Face Hub: check HF_ENDPOINT",
	});
}
