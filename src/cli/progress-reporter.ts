import cliProgress from "cli-progress";
import type { WriteProgress } from "../merge/write-shards.js";
import type { ForwardProgress } from "../model/index.js";
import { formatBytes } from "../util/size.js";

/** Progress of a merge: the shards being written and, at the same time, the forward pass of hidden-state gates. */
export interface MergeProgressReporter {
	writing(progress: WriteProgress): void;
	gates(progress: ForwardProgress): void;
	/** A line of text (a warning) that does not break the bars. */
	log(text: string): void;
	stop(): void;
}

/**
 * On a TTY, cli-progress bars (writing: bytes, tensors, rate, ETA; gates: layer k of n), one above the
 * other while both run; otherwise plain lines, about one per 10 % of the bytes and one per layer, so
 * logs stay readable; nothing with --json (stdout holds the summary only).
 */
export function createProgressReporter(stream: NodeJS.WriteStream, mode: "auto" | "quiet"): MergeProgressReporter {
	if (mode === "quiet") return { writing() {}, gates() {}, log() {}, stop() {} };
	return stream.isTTY ? barReporter(stream) : lineReporter(stream);
}

function barReporter(stream: NodeJS.WriteStream): MergeProgressReporter {
	const bars = new cliProgress.MultiBar(
		{ stream, hideCursor: true, etaBuffer: 50, fps: 5, clearOnComplete: false },
		cliProgress.Presets.shades_classic,
	);
	let writeBar: cliProgress.SingleBar | undefined;
	let gateBar: cliProgress.SingleBar | undefined;
	const t0 = performance.now();
	return {
		writing(p) {
			const payload = {
				// `total` and `value` are cli-progress's own names: the texts need others.
				doneText: formatBytes(p.bytesDone),
				totalText: formatBytes(p.bytesTotal),
				tensors: `${p.tensorsDone}/${p.tensorsTotal}`,
				rate: `${formatBytes(p.bytesDone / Math.max(1e-3, (performance.now() - t0) / 1000))}/s`,
			};
			writeBar ??= bars.create(p.bytesTotal, 0, payload, {
				format: "writing |{bar}| {percentage}% {doneText} of {totalText}, {tensors} tensors, {rate}, ETA {eta_formatted}",
			});
			writeBar.update(p.bytesDone, payload);
		},
		gates(p) {
			// Within a layer, which prompt's attention is done; between layers, nothing.
			const payload = { prompt: p.prompt > 0 ? `, prompt ${p.prompt}/${p.prompts}` : "" };
			gateBar ??= bars.create(p.layers, 0, payload, { format: "gates   |{bar}| layer {value}/{total} of the forward pass{prompt}, ETA {eta_formatted}" });
			gateBar.update(p.layer, payload);
		},
		log: (text) => (writeBar || gateBar ? bars.log(text) : stream.write(text)),
		stop: () => bars.stop(),
	};
}

function lineReporter(stream: NodeJS.WriteStream): MergeProgressReporter {
	let nextTenth = 1;
	let lastLayer = -1;
	return {
		writing(p) {
			const fraction = p.bytesTotal === 0 ? 1 : p.bytesDone / p.bytesTotal;
			if (fraction * 10 >= nextTenth) {
				stream.write(`writing: ${Math.floor(fraction * 100)}% (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${p.tensorsDone}/${p.tensorsTotal} tensors)\n`);
				nextTenth = Math.floor(fraction * 10) + 1;
			}
		},
		gates(p) {
			if (p.layer !== lastLayer && p.prompt === 0) {
				lastLayer = p.layer;
				stream.write(`gates: layer ${p.layer} of ${p.layers} done\n`);
			}
		},
		log: (text) => stream.write(text),
		stop() {},
	};
}
