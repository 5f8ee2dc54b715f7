import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder of this package's package.json, found above the running file (dist/ or a test build). */
export const PACKAGE_ROOT: string = (() => {
	for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
		try {
			if (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name === "moe-merge") return dir;
		} catch {
			// keep walking up
		}
	}
	throw new Error("moe-merge: cannot find the package's package.json above the running file");
})();
