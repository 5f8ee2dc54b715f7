/** File names of the Hugging Face safetensors layouts. */

/** The weights of an unsharded model. */
export const SINGLE_FILE_NAME = "model.safetensors";
/** The tensor -> shard map of a sharded model. */
export const INDEX_FILE_NAME = "model.safetensors.index.json";
