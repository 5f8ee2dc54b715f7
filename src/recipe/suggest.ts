/** "Did you mean ...?" for misspelt field names and enum values. */

/** Optimal-string-alignment distance: like Levenshtein, plus one-step swaps ("gaet" -> "gate"). */
export function editDistance(a: string, b: string): number {
	const rows = a.length + 1;
	const cols = b.length + 1;
	const d: number[][] = Array.from({ length: rows }, (_, i) => {
		const row = new Array<number>(cols).fill(0);
		row[0] = i;
		return row;
	});
	for (let j = 0; j < cols; j++) d[0][j] = j;
	for (let i = 1; i < rows; i++) {
		for (let j = 1; j < cols; j++) {
			const cost = a[i - 1] === b[j - 1] ? 0 : 1;
			let best = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2][j - 2] + 1);
			d[i][j] = best;
		}
	}
	return d[rows - 1][cols - 1];
}

export interface SuggestOptions {
	/** Words users write for a choice that edit distance would not find (e.g. bf16 -> bfloat16). */
	aliases?: Record<string, string>;
}

/** The closest choice, or undefined when nothing is close enough to be a likely typo. */
export function closest(word: string, choices: readonly string[], options: SuggestOptions = {}): string | undefined {
	const lower = word.toLowerCase();
	const alias = options.aliases && Object.hasOwn(options.aliases, lower) ? options.aliases[lower] : undefined;
	if (alias !== undefined && choices.includes(alias)) return alias;
	// A shortened name ("rev", "positive") is a likely slip too.
	if (lower.length >= 3) {
		const prefixed = choices.filter((c) => c.toLowerCase().startsWith(lower));
		if (prefixed.length === 1) return prefixed[0];
	}
	// Long inputs cannot be near any of our short names; skip the quadratic work.
	if (lower.length > 64) return undefined;
	let best: string | undefined;
	let bestDistance = Infinity;
	for (const choice of choices) {
		const distance = editDistance(lower, choice.toLowerCase());
		if (distance < bestDistance) {
			best = choice;
			bestDistance = distance;
		}
	}
	if (best === undefined) return undefined;
	// About one edit per three characters: "noise_scal" -> "noise_scale", but not "foo" -> "dtype".
	const allowed = Math.max(1, Math.floor(Math.max(lower.length, best.length) / 3));
	return bestDistance <= Math.min(allowed, 4) ? best : undefined;
}

/** `; did you mean "x"?` or an empty string. */
export function didYouMean(word: string, choices: readonly string[], options: SuggestOptions = {}): string {
	const suggestion = closest(word, choices, options);
	return suggestion === undefined ? "" : `; did you mean "${suggestion}"?`;
}
