import { Parser } from "yaml";

/**
 * The first collection nested deeper than `limit` in a YAML text, found on the concrete syntax tree
 * (built without recursion) with an explicit stack. The yaml library composes documents recursively, so
 * text nesting thousands of levels would overflow the stack somewhere unpredictable; a recipe nests
 * about six levels (experts, an expert, its prompts, a chat message, ...).
 */
export function findDeepNesting(text: string, limit: number): { offset: number } | undefined {
	for (const token of new Parser().parse(text)) {
		const stack: [unknown, number][] = [[token, 0]];
		while (stack.length > 0) {
			const [node, depth] = stack.pop()!;
			if (typeof node !== "object" || node === null) continue;
			const { type, value, items, offset } = node as { type?: string; value?: unknown; items?: unknown; offset?: number };
			if (type === "document") {
				stack.push([value, depth]);
				continue;
			}
			if (!Array.isArray(items)) continue;
			if (depth >= limit) return { offset: offset ?? 0 };
			for (const item of items as { key?: unknown; value?: unknown }[]) stack.push([item.key, depth + 1], [item.value, depth + 1]);
		}
	}
	return undefined;
}
