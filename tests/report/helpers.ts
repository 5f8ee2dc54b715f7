/** Test helpers for the routing report: fixture paths and the committed transformers references. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Compiled tests live in .test-build/tests/report/, three levels below the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const REPORT_FIXTURES = join(REPO_ROOT, "tests/fixtures/report");
/** The tiny MoE checkpoints of tests/fixtures/report (see its README). */
export const MOE_FIXTURES = ["mixtral-per-expert", "mixtral-fused", "mixtral-mergekit", "qwen2-moe", "qwen3-moe"] as const;

export interface ExpectedRouting {
	experts_per_tok: number;
	moe_layers: number[];
	prompts: {
		token_ids: number[];
		argmax_next: number;
		layers: { layer: number; router_probs: number[][]; experts: number[][] }[];
	}[];
}

export async function readExpected(name: string): Promise<ExpectedRouting> {
	return JSON.parse(await readFile(join(REPORT_FIXTURES, `${name}.expected.json`), "utf8")) as ExpectedRouting;
}
