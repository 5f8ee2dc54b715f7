/** The Mixtral output description, row by row: what it accepts, how it names tensors, its defaults and config. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseArchitecture, type ArchitectureChoiceInput } from "../../src/architectures/choose-architecture.js";
import { unsupportedInputReason } from "../../src/architectures/input-support.js";
import { mixtral } from "../../src/architectures/mixtral.js";
import { defaultExpertsPerToken } from "../../src/architectures/output-architecture.js";
import { normaliseDenseConfig } from "../../src/inputs/dense-config.js";
import { ModelError } from "../../src/errors.js";

const dense = (extra: Record<string, unknown>) =>
	normaliseDenseConfig({ model_type: "llama", hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 100, ...extra }, "config.json");

describe("Mixtral: inputs", () => {
	const inputs = (...types: string[]) => types.map((t, i) => ({ label: `model ${i}`, config: dense({ model_type: t }) }));
	const choice = (extra: Partial<ArchitectureChoiceInput>): ArchitectureChoiceInput => ({ inputs: inputs("llama"), sharedExperts: 0, sharedExpertPrompts: false, gatesFromPrompts: true, ...extra });
	const cases: [string, Partial<ArchitectureChoiceInput>, RegExp | null][] = [
		["llama", {}, null],
		["mistral", { inputs: inputs("mistral", "mistral") }, null],
		["qwen2 is not Mixtral's", { inputs: inputs("qwen2"), candidates: ["mixtral"] }, /Mixtral: input model_type "qwen2" is not supported/],
		["mixed model types", { inputs: inputs("llama", "mistral"), candidates: ["mixtral"] }, /same model_type, got llama, mistral/],
		["a shared expert", { sharedExperts: 1, sharedExpertPrompts: true, candidates: ["mixtral"] }, /Mixtral: it has no shared experts/],
	];
	for (const [what, input, refused] of cases) {
		it(what, () => {
			if (!refused) return assert.equal(chooseArchitecture(choice(input)).architecture, mixtral);
			assert.throws(() => chooseArchitecture(choice(input)), (e: unknown) => e instanceof ModelError && refused.test(e.message));
		});
	}

	const configs: [string, Record<string, unknown>, RegExp | null][] = [
		["a plain Llama", {}, null],
		["attention biases", { attention_bias: true }, /attention biases \(q\/k\/v\/o bias\), which Mixtral has no place for; architecture: qwen/],
		["MLP biases", { mlp_bias: true }, /MLP has biases \(mlp_bias: true\), which Mixtral experts cannot carry/],
		["gelu", { hidden_act: "gelu" }, /activation is gelu; Mixtral experts use silu/],
		["a Mistral config with a stray attention_bias (Mistral layers have none)", { model_type: "mistral", attention_bias: true }, null],
	];
	for (const [what, extra, reason] of configs) {
		it(`config: ${what}`, () => {
			const why = unsupportedInputReason(mixtral, dense(extra));
			if (reason) assert.match(why ?? "", reason);
			else assert.equal(why, null);
		});
	}
});

describe("Mixtral: names, defaults, config", () => {
	it("names experts and routers in both layouts", () => {
		assert.equal(mixtral.expertTensorName(3, 1, "gate_proj"), "model.layers.3.block_sparse_moe.experts.1.w1.weight");
		assert.equal(mixtral.expertTensorName(3, 1, "down_proj"), "model.layers.3.block_sparse_moe.experts.1.w2.weight");
		assert.equal(mixtral.expertTensorName(3, 1, "up_proj"), "model.layers.3.block_sparse_moe.experts.1.w3.weight");
		assert.equal(mixtral.routerName(0, "per-expert"), "model.layers.0.block_sparse_moe.gate.weight");
		assert.equal(mixtral.routerName(0, "fused"), "model.layers.0.mlp.gate.weight");
		assert.deepEqual(mixtral.fusedExpertNames?.(2), { gateUp: "model.layers.2.mlp.experts.gate_up_proj", down: "model.layers.2.mlp.experts.down_proj" });
		assert.equal(mixtral.sharedExpertNames, undefined);
	});

	it("carries no biases and defaults to 2 experts per token", () => {
		assert.deepEqual([...mixtral.biases.carried], []);
		assert.equal(mixtral.biases.zeros, undefined);
		assert.equal(defaultExpertsPerToken(mixtral, 0), 2);
	});

	it("derives a MixtralConfig, keeping a Mistral window", () => {
		const config = mixtral.deriveConfig({ base: dense({ model_type: "mistral", sliding_window: 16 }), numExperts: 4, expertsPerToken: 2, sharedExperts: 0, dtype: "bfloat16" });
		assert.equal(config.model_type, "mixtral");
		assert.deepEqual(config.architectures, ["MixtralForCausalLM"]);
		assert.equal(config.num_local_experts, 4);
		assert.equal(config.num_experts_per_tok, 2);
		assert.equal(config.sliding_window, 16);
		assert.equal(config.torch_dtype, "bfloat16");
	});
});
