/**
 * GGUF conversion benchmark: `moe-merge gguf` of a generated dense bf16 model of a real shape, for
 * each --type, against the disk's write speed (dd, alternated with the runs) on the same bytes.
 *
 *   npm run bench:gguf -- --shape tinyllama [--dir /tmp/moe-merge-bench] [--types f16,q8_0] [--rounds 1]
 */
import { execFileSync } from "node:child_process";
import { mkdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CLI, SHAPES, addTokenizer, ddWriteSpeed, ensureModels, timeCommand, warmPageCache } from "./bench-inputs.js";

const { values } = parseArgs({
	options: {
		shape: { type: "string", default: "tinyllama" },
		dir: { type: "string", default: "/tmp/moe-merge-bench" },
		types: { type: "string", default: "f16,q8_0" },
		rounds: { type: "string", default: "1" },
	},
});

const shape = SHAPES[values.shape as string];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(", ")}`);
const root = resolve(values.dir as string, values.shape as string);

async function main(): Promise<void> {
	await mkdir(root, { recursive: true });
	const [model] = await ensureModels(root, shape, 1, 1);
	addTokenizer(model!);
	warmPageCache([model!]);
	const results = [];
	for (let r = 0; r < Number(values.rounds); r++) {
		for (const type of (values.types as string).split(",")) {
			const out = join(root, `bench-${type}.gguf`);
			await rm(out, { force: true });
			execFileSync("sync");
			const run = timeCommand(process.execPath, [CLI, "gguf", model!, "-o", out, "--type", type, "--json"]);
			const bytes = (await stat(out)).size;
			await rm(out, { force: true });
			execFileSync("sync");
			const dd = ddWriteSpeed(root, bytes / 1e9);
			const gbps = bytes / 1e9 / run.wallSeconds;
			const result = { type, bytes, wallSeconds: run.wallSeconds, coreSeconds: run.coreSeconds, peakRssMB: run.peakRssMB, outputGBps: +gbps.toFixed(3), ddGBps: +dd.toFixed(3), fractionOfDd: +(gbps / dd).toFixed(3) };
			console.error(JSON.stringify(result));
			results.push(result);
		}
	}
	process.stdout.write(`${JSON.stringify({ shape: values.shape, results }, null, 2)}\n`);
}

main().catch((error) => {
	console.error(error);
	process.exit(1);
});
