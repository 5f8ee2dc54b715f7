import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** This package's version, read from the package.json above the running file (dist/ or a test build). */
export const VERSION: string = (() => {
	for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
		try {
			const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
			if (pkg.name === "moe-merge") return pkg.version as string;
		} catch {
			// keep walking up
		}
	}
	return "0.0.0";
})();
