import cliProgress from "cli-progress";
import type { WriteProgress } from "../merge/write-shards.js";
import { formatBytes } from "../util/size.js";

export interface ProgressReporter {
	update(progress: WriteProgress): void;
	stop(): void;
}

/**
 * A cli-progress bar (bytes, tensors, rate, ETA) on a TTY; otherwise one plain line about every
 * 10 % so logs stay readable; nothing with --json (stdout holds the summary only).
 */
export function createProgressReporter(stream: NodeJS.WriteStream, mode: "auto" | "quiet"): ProgressReporter {
	if (mode === "quiet") return { update() {}, stop() {} };
	if (stream.isTTY) {
		const bar = new cliProgress.SingleBar(
			{
				stream,
				format: "writing |{bar}| {percentage}% {doneText} of {totalText}, {tensors} tensors, {rate}, ETA {eta_formatted}",
				hideCursor: true,
				etaBuffer: 50,
				fps: 5,
			},
			cliProgress.Presets.shades_classic,
		);
		let started = false;
		const t0 = performance.now();
		return {
			update(p) {
				const payload = {
					// `total` and `value` are cli-progress's own names: the texts need others.
					doneText: formatBytes(p.bytesDone),
					totalText: formatBytes(p.bytesTotal),
					tensors: `${p.tensorsDone}/${p.tensorsTotal}`,
					rate: `${formatBytes(p.bytesDone / Math.max(1e-3, (performance.now() - t0) / 1000))}/s`,
				};
				if (!started) {
					bar.start(p.bytesTotal, p.bytesDone, payload);
					started = true;
				} else bar.update(p.bytesDone, payload);
			},
			stop: () => started && bar.stop(),
		};
	}
	let nextTenth = 1;
	return {
		update(p) {
			const fraction = p.bytesTotal === 0 ? 1 : p.bytesDone / p.bytesTotal;
			if (fraction * 10 >= nextTenth) {
				stream.write(`writing: ${Math.floor(fraction * 100)}% (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${p.tensorsDone}/${p.tensorsTotal} tensors)\n`);
				nextTenth = Math.floor(fraction * 10) + 1;
			}
		},
		stop() {},
	};
}

/** Progress of the forward pass of hidden-state gates: a bar per layer on a TTY, a line per layer otherwise. */
export function createGateProgressReporter(stream: NodeJS.WriteStream, mode: "auto" | "quiet"): { update(p: { layer: number; layers: number; prompt: number; prompts: number }): void; stop(): void } {
	if (mode === "quiet") return { update() {}, stop() {} };
	if (stream.isTTY) {
		const bar = new cliProgress.SingleBar(
			{ stream, format: "gates   |{bar}| layer {value}/{total}, prompt {prompt}/{prompts}, ETA {eta_formatted}", hideCursor: true, fps: 5 },
			cliProgress.Presets.shades_classic,
		);
		let started = false;
		return {
			update(p) {
				if (!started) {
					bar.start(p.layers, p.layer, { prompt: p.prompt, prompts: p.prompts });
					started = true;
				} else bar.update(p.layer, { prompt: p.prompt, prompts: p.prompts });
			},
			stop: () => started && bar.stop(),
		};
	}
	let last = -1;
	return {
		update(p) {
			if (p.layer !== last && p.prompt === 0) {
				last = p.layer;
				stream.write(`gates: ${p.layer} of ${p.layers} layers done\n`);
			}
		},
		stop() {},
	};
}
