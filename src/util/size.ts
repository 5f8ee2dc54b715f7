/** Human byte sizes: parsing `--out-shard-size`-style options and printing sizes. */
import { MoeMergeError } from "../errors.js";

/**
 * Units are case-insensitive. Like mergekit, `B` alone means billion (`5B` = 5e9 bytes); K/M/G/T with or
 * without a trailing B are decimal; KiB/MiB/GiB/TiB are binary.
 */
const UNITS: Readonly<Record<string, number>> = {
	"": 1,
	b: 1e9,
	k: 1e3,
	kb: 1e3,
	m: 1e6,
	mb: 1e6,
	g: 1e9,
	gb: 1e9,
	t: 1e12,
	tb: 1e12,
	kib: 2 ** 10,
	mib: 2 ** 20,
	gib: 2 ** 30,
	tib: 2 ** 40,
};

const SIZE_PATTERN = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i;
const EXAMPLES = "e.g. 5GB, 500M, 5B (= 5 billion bytes), 2GiB or a number of bytes";

/** Parses a positive size in bytes from a number or text such as `5GB`, `1.5G`, `500 MiB`, `5B`. */
export function parseSize(text: string | number): number {
	if (typeof text === "number") {
		if (!Number.isSafeInteger(text) || text <= 0) throw new MoeMergeError(`invalid size ${text}: expected a positive whole number of bytes`);
		return text;
	}
	const match = SIZE_PATTERN.exec(text.trim());
	const multiplier = match ? UNITS[match[2]!.toLowerCase()] : undefined;
	if (!match || multiplier === undefined) throw new MoeMergeError(`invalid size ${JSON.stringify(text)}: expected ${EXAMPLES}`);
	const value = Number(match[1]) * multiplier;
	if (multiplier === 1 && !Number.isInteger(value)) throw new MoeMergeError(`invalid size ${JSON.stringify(text)}: a byte count must be a whole number`);
	// Rounding absorbs binary noise such as 1.1 * 1000 = 1100.0000000000002.
	const bytes = Math.round(value);
	if (bytes <= 0) throw new MoeMergeError(`invalid size ${JSON.stringify(text)}: must be more than 0 bytes`);
	if (!Number.isSafeInteger(bytes)) throw new MoeMergeError(`invalid size ${JSON.stringify(text)}: too large`);
	return bytes;
}

/** A bare number below this many bytes is almost surely a size in another unit (`5` meant as 5 GB). */
const BARE_MINIMUM = 1e6;

/**
 * A shard size from the command line: parseSize, but a number without a unit below 1 MB is refused
 * (`--out-shard-size 5` would write one shard per 5 bytes); with a unit (`500KB`) it is meant.
 */
export function parseShardSize(text: string): number {
	const bytes = parseSize(text);
	if (/^\s*[\d.]+\s*$/.test(text) && bytes < BARE_MINIMUM) {
		throw new MoeMergeError(`invalid size ${JSON.stringify(text)}: ${bytes} bytes per shard is surely not meant; below 1 MB a size needs a unit (e.g. 5GB, 5B = 5 billion bytes, 500KB)`);
	}
	return bytes;
}

const DECIMAL_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** Decimal units with two decimals, e.g. `6.83 GB`; plain bytes below 1 KB (`512 B`). */
export function formatBytes(n: number): string {
	if (!Number.isFinite(n)) return `${n} B`;
	const sign = n < 0 ? "-" : "";
	let value = Math.abs(n);
	if (value < 1000) return `${sign}${value} B`;
	let unit = 0;
	// Compare the rounded text, so 999.999 KB is printed as 1.00 MB and not 1000.00 KB.
	while (unit < DECIMAL_UNITS.length - 1 && Number(value.toFixed(2)) >= 1000) {
		value /= 1000;
		unit++;
	}
	return `${sign}${value.toFixed(2)} ${DECIMAL_UNITS[unit]}`;
}
