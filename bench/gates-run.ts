/** One measured gate build (child process of gates-bench): prints seconds, tokens and GFLOP/s as JSON. */
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { closeMergePlan, planMerge } from "../src/merge/plan-merge.js";
import { loadRecipe } from "../src/recipe/index.js";
import { forwardGflop } from "./forward-flops.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: "string" } } });
const recipe = await loadRecipe(positionals[0], { allowSameModelExperts: true });
const started = performance.now();
const plan = await planMerge(recipe, { threads: values.threads ? Number(values.threads) : undefined, seed: 1 });
// Everything from reading the recipe's models to the router rows: tokenizer, weights, forward pass.
const seconds = (performance.now() - started) / 1000;
const threads = threadCoreSeconds();
await closeMergePlan(plan);
const gates = plan.gates!;
const gflop = forwardGflop(plan.models[plan.base].config, gates);
const forward = gates.forward!;
console.log(
	JSON.stringify({
		seconds: +seconds.toFixed(2),
		tokens: gates.tokens,
		prompts: gates.distinctPrompts,
		layersRun: forward.layers,
		gflop: +gflop.toFixed(1),
		forwardSeconds: +forward.seconds.toFixed(2),
		forwardGflops: +(gflop / forward.seconds).toFixed(1),
		wholeRunGflops: +(gflop / seconds).toFixed(1),
		phases: Object.fromEntries(Object.entries(forward.phases).map(([k, v]) => [k, +v.toFixed(2)])),
		threadCoreSeconds: threads,
	}),
);

/**
 * CPU seconds (user + system) per live thread of this process, from /proc (Linux): the main thread,
 * then the others, busiest first (the file reads' libuv threads, then V8's). planMerge has closed its
 * kernel engine by now, so the workers' CPU is the process's total (/usr/bin/time) minus these.
 */
function threadCoreSeconds(): { main: number; others: number[] } | undefined {
	try {
		const ticks = (tid: string): number => {
			const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			return (Number(fields[11]) + Number(fields[12])) / 100;
		};
		const tids = readdirSync("/proc/self/task");
		const others = tids.filter((tid) => tid !== String(process.pid)).map(ticks).filter((s) => s >= 0.05).sort((a, b) => b - a);
		return { main: ticks(String(process.pid)), others };
	} catch {
		return undefined;
	}
}
