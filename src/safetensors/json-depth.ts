/**
 * How deeply a JSON text nests arrays and objects, counted on the raw text (strings skipped). A
 * safetensors header or an index nests two or three levels; a file nesting thousands is refused before
 * JSON.parse, and before anything recursive (JSON.stringify of a value in an error message) overflows
 * the stack on it.
 */
export function jsonNestingDepth(json: string): number {
	let depth = 0;
	let max = 0;
	for (let i = 0; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (c === 0x22) i = endOfString(json, i);
		else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
		else if (c === 0x7d || c === 0x5d) depth--;
	}
	return max;
}

function endOfString(json: string, start: number): number {
	for (let i = start + 1; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (c === 0x5c) i++;
		else if (c === 0x22) return i;
	}
	return json.length;
}
