import { sep } from "node:path";

/** Where `npm run demo` builds its models and output, at the top of the repository (recipes/demo.yml points there). */
export const DEMO_FOLDER = "moe-merge-demo";

/** For a missing model folder: the hint that the demo builds it, when it is one of the demo's models. */
export function demoModelHint(dir: string): string | undefined {
	return dir.includes(`${sep}${DEMO_FOLDER}${sep}models${sep}`) ? "this is a model of the demo: `npm run demo` (at the top of the repository) builds it" : undefined;
}
