/**
 * Loaded with `node --import` into a CLI run whose memory a test measures: at exit, the process's peak
 * resident set (kilobytes, from getrusage) goes to the file named by MOE_TEST_RSS_FILE.
 */
import { writeFileSync } from "node:fs";

process.on("exit", () => {
	const file = process.env.MOE_TEST_RSS_FILE;
	if (file) writeFileSync(file, String(process.resourceUsage().maxRSS));
});
