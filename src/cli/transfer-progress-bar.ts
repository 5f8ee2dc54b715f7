import cliProgress from "cli-progress";
import { formatBytes } from "../util/size.js";
import type { TransferProgress } from "../hub/transfer-progress.js";

export interface TransferReporter {
	update(progress: TransferProgress): void;
	stop(): void;
}

const VERB = { download: "downloading", hash: "hashing", upload: "uploading" } as const;

/**
 * The CLI's display of Hub transfers, like src/cli/progress-reporter.ts: a cli-progress bar per repo and
 * phase on a TTY (bytes, rate, ETA), one plain line about every 10 % otherwise, nothing when quiet.
 * Only repo and file names are shown, never a URL.
 */
export function createTransferReporter(stream: NodeJS.WriteStream, mode: "auto" | "quiet"): TransferReporter {
	if (mode === "quiet") return { update() {}, stop() {} };
	let key = "";
	let t0 = performance.now();
	let nextTenth = 0;
	let bar: cliProgress.SingleBar | undefined;
	const stopBar = () => {
		bar?.stop();
		bar = undefined;
	};
	return {
		update(p) {
			const label = `${VERB[p.phase]} ${p.repo}`;
			if (`${p.phase} ${p.repo}` !== key) {
				stopBar();
				key = `${p.phase} ${p.repo}`;
				t0 = performance.now();
				nextTenth = 0;
			}
			const payload = {
				label,
				doneText: formatBytes(p.bytesDone),
				totalText: formatBytes(p.bytesTotal),
				files: `${p.filesDone}/${p.filesTotal}`,
				rate: `${formatBytes(Math.round(p.bytesDone / Math.max(1e-3, (performance.now() - t0) / 1000)))}/s`,
			};
			if (stream.isTTY) {
				if (!bar) {
					bar = new cliProgress.SingleBar(
						{ stream, format: "{label} |{bar}| {percentage}% {doneText} of {totalText}, {files} files, {rate}, ETA {eta_formatted}", hideCursor: true, etaBuffer: 50, fps: 5 },
						cliProgress.Presets.shades_classic,
					);
					bar.start(Math.max(p.bytesTotal, 1), p.bytesDone, payload);
				} else bar.update(p.bytesDone, payload);
				return;
			}
			const fraction = p.bytesTotal === 0 ? 1 : p.bytesDone / p.bytesTotal;
			if (fraction * 10 >= nextTenth) {
				stream.write(`${label}: ${Math.floor(fraction * 100)}% (${payload.doneText} of ${payload.totalText}, ${payload.files} files)\n`);
				nextTenth = Math.floor(fraction * 10) + 1;
			}
		},
		stop: stopBar,
	};
}
