/**
 * JSON.parse silently keeps the last of repeated keys. In a safetensors header a repeated tensor name
 * (or a repeated "data_offsets") makes the file ambiguous, so we look for them in the raw text.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * The first key that appears twice in the same object, or undefined. `json` must already be valid
 * JSON (JSON.parse succeeded), so this scanner only tracks strings and nesting.
 */
export function findDuplicateKey(json: string): string | undefined {
	// One set of seen keys per open object; null for open arrays.
	const open: (Set<string> | null)[] = [];
	let expectKey = false;
	for (let i = 0; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (c === QUOTE) {
			const end = closingQuote(json, i);
			if (expectKey) {
				const raw = json.slice(i, end + 1);
				const key: string = raw.includes("\\") ? JSON.parse(raw) : raw.slice(1, -1);
				const seen = open[open.length - 1]!;
				if (seen.has(key)) return key;
				seen.add(key);
				expectKey = false;
			}
			i = end;
		} else if (c === OPEN_OBJECT) {
			open.push(new Set());
			expectKey = true;
		} else if (c === OPEN_ARRAY) {
			open.push(null);
			expectKey = false;
		} else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
			open.pop();
			expectKey = false;
		} else if (c === COMMA) {
			expectKey = open.length > 0 && open[open.length - 1] !== null;
		}
	}
	return undefined;
}

/** Index of the quote that ends the string starting at `start`. */
function closingQuote(json: string, start: number): number {
	for (let i = start + 1; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (c === BACKSLASH) i++;
		else if (c === QUOTE) return i;
	}
	return json.length - 1;
}
