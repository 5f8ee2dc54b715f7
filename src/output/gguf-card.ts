/** The model card's GGUF section (`--gguf`): the files, their sizes, and how llama.cpp, Ollama and LM Studio run them. */
import { formatBytes } from "../util/size.js";

export interface CardGgufFile {
	file: string;
	/** The tensor type (`f16`, `q8_0`, ...). */
	type: string;
	bytes: number;
}

export const GGUF_HEADING = "## GGUF";

export function renderGgufSection(files: readonly CardGgufFile[], repoId?: string): string[] {
	const first = files[0];
	if (!first) return [];
	const hub = repoId ? ` (\`huggingface-cli download ${repoId} ${first.file} --local-dir .\`)` : "";
	return [
		GGUF_HEADING,
		"",
		"The same weights as GGUF files for llama.cpp, Ollama and LM Studio, written by moe-merge from the merge's own stream:",
		"",
		"| file | type | size |",
		"|---|---|---|",
		...files.map((f) => `| \`${f.file}\` | ${f.type.toUpperCase()} | ${formatBytes(f.bytes)} |`),
		"",
		`- llama.cpp: \`llama-cli -m ${first.file} -p "The capital of France is"\`${hub}`,
		`- Ollama: a \`Modelfile\` with the line \`FROM ./${first.file}\`, then \`ollama create my-moe -f Modelfile\` and \`ollama run my-moe\``,
		`- LM Studio: put the file in a folder of LM Studio's models directory (\`lms import ${first.file}\`), then load it`,
		"",
	];
}
