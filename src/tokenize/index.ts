/** Tokenization of gate prompts with the base model's tokenizer (mergekit-moe's rule). */
export { GateTokenizer } from "./gate-tokenizer.js";
export { type ChatMessage } from "./chat-template.js";
export { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from "./tokenizer-files.js";
