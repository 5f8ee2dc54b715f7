/**
 * How llama.cpp names a byte-level BPE vocabulary's pre-tokenizer (tokenizer.ggml.pre): its converter
 * (convert_hf_to_gguf.py, get_vocab_base_pre) tokenizes CHECK_TEXT, hashes Python's str() of the ids
 * with sha256 and looks the hash up in a table of known vocabularies. llama.cpp then applies the
 * pre-tokenizer regexes it knows by that name; a vocabulary it does not know cannot be run correctly.
 *
 * The table is the part of the converter's (ggml-org/llama.cpp, read 2026-12) that a Llama-, Mistral-,
 * Qwen- or DeepSeek-family model (or a common fine-tune base) can carry; where the converter lists a
 * hash twice, the later name wins there, and that is the name here.
 */

/** The converter's check text, verbatim (its sha256 is tested). */
export const CHECK_TEXT =
	"\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/** sha256 of str(ids) -> tokenizer.ggml.pre. */
export const KNOWN_PRE_TOKENIZERS: ReadonlyMap<string, string> = new Map([
	["0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5", "llama-bpe"], // meta-llama/Meta-Llama-3-8B
	["c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d", "smaug-bpe"], // abacusai/Smaug-Llama-3-70B-Instruct
	["d353350c764d8c3b39c763113960e4fb4919bea5fbf208a0e3b22e8469dc7406", "llama4"],
	["e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea", "qwen2"], // Qwen/Qwen1.5-7B (also Qwen2, Qwen2.5, Qwen3)
	["d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c", "qwen2"], // Qwen/Qwen3-Embedding-0.6B
	["d30d75d9059f1aa2c19359de71047b3ae408c70875e8a3ccf8c5fba56c9d8af4", "qwen35"],
	["049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754", "deepseek-llm"], // deepseek-ai/deepseek-llm-7b-base (and deepseek-moe-16b)
	["347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821", "deepseek-coder"],
	["877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5", "deepseek-v3"],
	["b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5", "deepseek-r1-qwen"],
	["63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e", "tekken"], // mistralai/Mistral-Nemo-Base-2407
	["0e9433cbbb161f89e264eb32e8e64bfe69e834973ffca5d41d3948a604a3e2a3", "pixtral"],
	["3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454", "gpt-2"], // openai-community/gpt2
	["855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249", "smollm"],
	["ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e", "gpt-4o"],
	["9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e", "falcon3"],
	["8aeee3860c56296a157a1fe2fad249ec40aa59b1bb5709f4ade11c4e6fe652ed", "falcon"],
	["b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166", "olmo"], // also mpt; listed later as olmo
	["35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34", "starcoder"],
	["32d85c31273f8019248f2559fed492d929ea28b17e51d81d3bb36fff23ca72b3", "stablelm2"],
	["9c2227e4dd922002fb81bde4fc02b0483ca4f12911410dee2255e4987644e3f8", "command-r"],
	["a8594e3edff7c29c003940395316294b2c623e09894deebbc65f33f1515df79e", "dbrx"],
	["4e2b24cc4770243d65a2c9ec19770a72f08cffc161adbb73fcbb6b7dd45a0aae", "exaone"],
	["fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085", "phi-2"],
	["d5f1dd6f980fec569fb218a81a7658ac45fc56b38c5a0adeb1c232fbe04ef5ec", "seed-coder"],
]);

/** What llama.cpp's converter hashes: Python's str() of a list of ints. */
export function idsAsPythonList(ids: readonly number[]): string {
	return `[${ids.join(", ")}]`;
}
