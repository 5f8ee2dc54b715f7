import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringifyConfig } from "../output/config-json.js";
import { SeededRandom } from "../random/seeded-random.js";
import { type DType, type OutputTensorSpec, ShardWriter, dtypeBytes, encodeIndex, fromFloat32, isFloatDType, planShards, torchDTypeName } from "../safetensors/index.js";

export interface DenseModelShape {
	modelType: "llama" | "mistral";
	hiddenSize: number;
	numLayers: number;
	numHeads: number;
	numKvHeads: number;
	intermediateSize: number;
	vocabSize: number;
	tieWordEmbeddings?: boolean;
	maxPositionEmbeddings?: number;
	ropeTheta?: number;
	slidingWindow?: number | null;
}

export interface MakeDenseModelOptions {
	dir: string;
	shape: DenseModelShape;
	seed: number;
	dtype?: DType;
	/** Split the weights into shards of at most this many bytes (default: one file). */
	shardSize?: number;
	/**
	 * "random": every value drawn from its own seeded stream (demo and tests);
	 * "fast": one seeded block of values repeated (benchmarks of multi-GB models, where only bytes matter).
	 */
	fill?: "random" | "fast";
}

/** The tensors of a Llama/Mistral decoder, named and shaped as transformers saves them. */
export function denseTensorSpecs(shape: DenseModelShape, dtype: DType): OutputTensorSpec[] {
	const { hiddenSize: H, intermediateSize: I, vocabSize: V, numHeads, numKvHeads } = shape;
	const headDim = H / numHeads;
	const specs: OutputTensorSpec[] = [{ name: "model.embed_tokens.weight", dtype, shape: [V, H] }];
	for (let l = 0; l < shape.numLayers; l++) {
		const p = `model.layers.${l}`;
		specs.push(
			{ name: `${p}.input_layernorm.weight`, dtype, shape: [H] },
			{ name: `${p}.mlp.down_proj.weight`, dtype, shape: [H, I] },
			{ name: `${p}.mlp.gate_proj.weight`, dtype, shape: [I, H] },
			{ name: `${p}.mlp.up_proj.weight`, dtype, shape: [I, H] },
			{ name: `${p}.post_attention_layernorm.weight`, dtype, shape: [H] },
			{ name: `${p}.self_attn.k_proj.weight`, dtype, shape: [numKvHeads * headDim, H] },
			{ name: `${p}.self_attn.o_proj.weight`, dtype, shape: [H, numHeads * headDim] },
			{ name: `${p}.self_attn.q_proj.weight`, dtype, shape: [numHeads * headDim, H] },
			{ name: `${p}.self_attn.v_proj.weight`, dtype, shape: [numKvHeads * headDim, H] },
		);
	}
	specs.push({ name: "model.norm.weight", dtype, shape: [H] });
	if (!shape.tieWordEmbeddings) specs.push({ name: "lm_head.weight", dtype, shape: [V, H] });
	return specs;
}

/** config.json as transformers 4.x saves a LlamaConfig / MistralConfig. */
export function denseConfigJson(shape: DenseModelShape, dtype: DType): Record<string, unknown> {
	const mistral = shape.modelType === "mistral";
	return {
		architectures: [mistral ? "MistralForCausalLM" : "LlamaForCausalLM"],
		...(mistral ? {} : { attention_bias: false, mlp_bias: false, pretraining_tp: 1 }),
		attention_dropout: 0.0,
		bos_token_id: 1,
		eos_token_id: 2,
		head_dim: shape.hiddenSize / shape.numHeads,
		hidden_act: "silu",
		hidden_size: shape.hiddenSize,
		initializer_range: 0.02,
		intermediate_size: shape.intermediateSize,
		max_position_embeddings: shape.maxPositionEmbeddings ?? 4096,
		model_type: shape.modelType,
		num_attention_heads: shape.numHeads,
		num_hidden_layers: shape.numLayers,
		num_key_value_heads: shape.numKvHeads,
		rms_norm_eps: 1e-5,
		rope_scaling: null,
		rope_theta: shape.ropeTheta ?? 10000.0,
		...(mistral ? { sliding_window: shape.slidingWindow ?? null } : {}),
		tie_word_embeddings: shape.tieWordEmbeddings ?? false,
		torch_dtype: isFloatDType(dtype) ? torchDTypeName(dtype) : "bfloat16",
		transformers_version: "4.57.6",
		use_cache: true,
		vocab_size: shape.vocabSize,
	};
}

/**
 * Writes a dense decoder with random weights (linear ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norms ~ 1 + N(0, 0.1²)),
 * streamed shard by shard, so even a 7B-shape model needs only a small buffer.
 */
export async function makeDenseModel(options: MakeDenseModelOptions): Promise<void> {
	const dtype = options.dtype ?? "BF16";
	const specs = denseTensorSpecs(options.shape, dtype);
	const shards = planShards(specs, options.shardSize ?? Number.MAX_SAFE_INTEGER);
	await mkdir(options.dir, { recursive: true });
	const chunk = 1 << 22;
	const floats = new Float32Array(chunk);
	const bytes = new Uint8Array(chunk * 4);
	const block = options.fill === "fast" ? fastBlock(options.seed, chunk, dtype) : undefined;
	for (const shard of shards) {
		const writer = await ShardWriter.create(options.dir, shard);
		try {
			for (const { spec } of shard.tensors) {
				const count = spec.shape.reduce((a, b) => a * b, 1);
				const isNorm = spec.shape.length === 1;
				const std = isNorm ? 0.1 : spec.name.includes("embed_tokens") ? 1 : 1 / Math.sqrt(spec.shape[1]);
				const rng = new SeededRandom(options.seed, spec.name);
				for (let start = 0; start < count; start += chunk) {
					const n = Math.min(chunk, count - start);
					if (block && !isNorm) {
						await writer.write(block.subarray(0, n * dtypeBytes(dtype)));
						continue;
					}
					const values = rng.fillNormal(floats.subarray(0, n), std);
					if (isNorm) for (let i = 0; i < n; i++) values[i] += 1;
					await writer.write(fromFloat32(values, dtype, bytes.subarray(0, n * dtypeBytes(dtype))));
				}
			}
			await writer.finish();
		} catch (error) {
			await writer.abort();
			throw error;
		}
	}
	if (shards.length > 1) await writeFile(join(options.dir, "model.safetensors.index.json"), encodeIndex(shards));
	await writeFile(join(options.dir, "config.json"), stringifyConfig(denseConfigJson(options.shape, dtype)));
	await writeFile(
		join(options.dir, "generation_config.json"),
		`${JSON.stringify({ bos_token_id: 1, eos_token_id: 2, transformers_version: "4.57.6" }, null, 2)}\n`,
	);
}

/** One block of N(0, 0.02²) values in the target dtype, reused for every big tensor of a benchmark model. */
function fastBlock(seed: number, n: number, dtype: DType): Uint8Array {
	const values = new SeededRandom(seed, "fast-block").fillNormal(new Float32Array(n), 0.02);
	return fromFloat32(values, dtype);
}
