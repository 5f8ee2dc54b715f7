/** Qwen MoE, Qwen3 MoE and DeepSeek MoE descriptions, row by row, and the choice among all four as mergekit-moe makes it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseArchitecture, type ArchitectureChoiceInput } from "../../src/architectures/choose-architecture.js";
import { defaultExpertsPerToken } from "../../src/architectures/output-architecture.js";
import { ARCHITECTURES } from "../../src/architectures/registry.js";
import { deepseekMoe } from "../../src/architectures/deepseek-moe.js";
import { unsupportedInputReason } from "../../src/architectures/input-support.js";
import { qwen2Moe } from "../../src/architectures/qwen2-moe.js";
import { qwen3Moe } from "../../src/architectures/qwen3-moe.js";
import { normaliseDenseConfig } from "../../src/inputs/dense-config.js";
import { ModelError } from "../../src/errors.js";
import type { ArchitectureName } from "../../src/recipe/index.js";

const dense = (extra: Record<string, unknown> = {}) =>
	normaliseDenseConfig({ model_type: "llama", hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 100, ...extra }, "config.json");
const inputs = (type: string, extra: Record<string, unknown> = {}) => [{ label: "base", config: dense({ model_type: type, ...extra }) }, { label: "expert", config: dense({ model_type: type, ...extra }) }];

describe("choosing the output architecture as mergekit-moe does", () => {
	const choice = (extra: Partial<ArchitectureChoiceInput>): ArchitectureChoiceInput => ({ inputs: inputs("llama"), sharedExperts: 0, sharedExpertPrompts: false, gatesFromPrompts: true, ...extra });
	const cases: [string, Partial<ArchitectureChoiceInput>, ArchitectureName | RegExp][] = [
		["Llama without shared experts: Mixtral first", {}, "mixtral"],
		["Llama, a shared expert without prompts, random gates: DeepSeek MoE (before Qwen MoE)", { sharedExperts: 1, gatesFromPrompts: false }, "deepseek_moe"],
		["Llama, a shared expert with prompts: Qwen MoE (DeepSeek has no shared gate)", { sharedExperts: 1, sharedExpertPrompts: true }, "qwen2_moe"],
		["Llama, two shared experts with prompts: Qwen MoE", { sharedExperts: 2, sharedExpertPrompts: true }, "qwen2_moe"],
		["Mistral, two ungated shared experts: DeepSeek MoE", { inputs: inputs("mistral"), sharedExperts: 2, gatesFromPrompts: false }, "deepseek_moe"],
		["Qwen2 with a shared expert: Qwen MoE", { inputs: inputs("qwen2"), sharedExperts: 1, sharedExpertPrompts: true }, "qwen2_moe"],
		["Qwen3: Qwen3 MoE", { inputs: inputs("qwen3") }, "qwen3_moe"],
		["Llama with attention_bias: DeepSeek MoE, the one that carries o_proj biases", { inputs: inputs("llama", { attention_bias: true }) }, "deepseek_moe"],
		["architecture: qwen with Qwen3 inputs: Qwen3 MoE (the first match that fits)", { inputs: inputs("qwen3"), candidates: ["qwen2_moe", "qwen3_moe"] }, "qwen3_moe"],
		["architecture: qwen with Llama and a gated shared expert: Qwen MoE", { candidates: ["qwen2_moe", "qwen3_moe"], sharedExperts: 1, sharedExpertPrompts: true }, "qwen2_moe"],
		["Qwen2 without a shared expert: none fits, and the hint says to add one", { inputs: inputs("qwen2") }, /Qwen MoE: it needs at least 1 shared expert\(s\), got 0/],
		["Qwen3 MoE from Llama: refused with the reason", { candidates: ["qwen3_moe"] }, /as Qwen3 MoE:\n {2}Qwen3 MoE: input model_type "llama" is not supported/],
		["a shared expert for Mixtral: refused", { candidates: ["mixtral"], sharedExperts: 1, sharedExpertPrompts: true }, /Mixtral: it has no shared experts/],
		["Qwen MoE with a shared expert but no prompts and hidden gates: refused", { candidates: ["qwen2_moe"], sharedExperts: 1 }, /give the shared experts positive_prompts/],
		["DeepSeek MoE with prompts on its shared expert: refused", { candidates: ["deepseek_moe"], sharedExperts: 1, sharedExpertPrompts: true }, /no gate, so their prompts would mean nothing/],
		["Mixtral with a Mistral window and Qwen MoE: both fine", { inputs: inputs("mistral", { sliding_window: 4 }), candidates: ["qwen2_moe"], sharedExperts: 1, gatesFromPrompts: false }, "qwen2_moe"],
		["DeepSeek MoE refuses a window", { inputs: inputs("mistral", { sliding_window: 4 }), candidates: ["deepseek_moe"] }, /sliding window, which DeepSeek MoE's attention has not/],
	];
	for (const [what, input, expected] of cases) {
		it(what, () => {
			if (typeof expected === "string") return assert.equal(chooseArchitecture(choice(input)).architecture.name, expected);
			assert.throws(() => chooseArchitecture(choice(input)), (e: unknown) => e instanceof ModelError && expected.test(`${e.message}\n${e.hint ?? ""}`));
		});
	}

	it("lists every architecture and why not when none fits, with a hint for Qwen2", () => {
		try {
			chooseArchitecture(choice({ inputs: inputs("qwen2") }));
			assert.fail("expected a refusal");
		} catch (e) {
			assert.ok(e instanceof ModelError);
			for (const a of ARCHITECTURES) assert.match(e.message, new RegExp(`\\n  ${a.displayName}: `));
			assert.match(e.hint ?? "", /add `shared_experts:/);
		}
	});

	it("says why it chose, and what it passed over", () => {
		const picked = chooseArchitecture(choice({ sharedExperts: 1, sharedExpertPrompts: true }));
		assert.match(picked.reason, /first of Mixtral, DeepSeek MoE, Qwen MoE, Qwen3 MoE that can express llama inputs with 1 shared expert/);
		assert.deepEqual(picked.passedOver.map((p) => p.name), ["Mixtral", "DeepSeek MoE"]);
	});
});

describe("input features per architecture", () => {
	const rows: [string, typeof qwen2Moe, Record<string, unknown>, RegExp | null][] = [
		["Qwen MoE takes Qwen2's q/k/v biases", qwen2Moe, { model_type: "qwen2" }, null],
		["Qwen MoE refuses Llama's o_proj bias", qwen2Moe, { attention_bias: true }, /\(o bias\), which Qwen MoE has no place for/],
		["Qwen MoE refuses head_dim × heads ≠ hidden (transformers 4.57 does)", qwen2Moe, { head_dim: 16 }, /head_dim 16 × 4 heads is not hidden_size 32/],
		["Qwen MoE refuses a window on some layers only", qwen2Moe, { model_type: "qwen2", use_sliding_window: true, sliding_window: 4, max_window_layers: 1 }, /covers 1 of 2 layers/],
		["Qwen MoE keeps a window on every layer", qwen2Moe, { model_type: "mistral", sliding_window: 4 }, null],
		["Qwen3 MoE takes Qwen3's attention_bias", qwen3Moe, { model_type: "qwen3", attention_bias: true, head_dim: 8 }, null],
		["DeepSeek MoE takes Llama's attention_bias", deepseekMoe, { attention_bias: true }, null],
		["nobody takes MLP biases", deepseekMoe, { mlp_bias: true }, /MLP has biases/],
	];
	for (const [what, arch, extra, reason] of rows) {
		it(what, () => {
			const why = unsupportedInputReason(arch, dense(extra));
			if (reason) assert.match(why ?? "", reason);
			else assert.equal(why, null);
		});
	}
});

describe("names and configs", () => {
	const derive = (arch: typeof qwen2Moe, extra: Record<string, unknown>, sharedExperts: number, training = {}) =>
		arch.deriveConfig({ base: dense(extra), numExperts: 4, expertsPerToken: 2, sharedExperts, dtype: "bfloat16", training });

	it("Qwen MoE: names, stacked shared experts, zero biases, window kept", () => {
		assert.equal(qwen2Moe.expertTensorName(1, 3, "up_proj"), "model.layers.1.mlp.experts.3.up_proj.weight");
		assert.equal(qwen2Moe.routerName(1, "per-expert"), "model.layers.1.mlp.gate.weight");
		assert.equal(qwen2Moe.sharedExpertNames?.projection(0, "down_proj"), "model.layers.0.mlp.shared_expert.down_proj.weight");
		assert.equal(qwen2Moe.sharedExpertNames?.gate?.(0), "model.layers.0.mlp.shared_expert_gate.weight");
		assert.deepEqual(qwen2Moe.fusedExpertNames?.(0), { gateUp: "model.layers.0.mlp.experts.gate_up_proj", down: "model.layers.0.mlp.experts.down_proj" });
		assert.deepEqual([...(qwen2Moe.biases.zeros ?? [])], ["q_proj", "k_proj", "v_proj"]);
		const config = derive(qwen2Moe, { model_type: "mistral", sliding_window: 4 }, 2);
		assert.deepEqual(config.architectures, ["Qwen2MoeForCausalLM"]);
		assert.equal(config.model_type, "qwen2_moe");
		assert.equal(config.num_experts, 4);
		assert.equal(config.moe_intermediate_size, 64);
		assert.equal(config.shared_expert_intermediate_size, 128);
		assert.equal(config.norm_topk_prob, true);
		assert.equal(config.decoder_sparse_step, 1);
		assert.equal(config.qkv_bias, true);
		assert.equal(config.use_sliding_window, true);
		assert.equal(config.sliding_window, 4);
		assert.equal(config.max_window_layers, 0);
		assert.equal(config.output_router_logits, false);
		assert.equal(config.router_aux_loss_coef, 0.001);
		const plain = derive(qwen2Moe, {}, 1);
		assert.equal(plain.use_sliding_window, false);
		assert.equal(plain.sliding_window, null);
	});

	it("Qwen3 MoE: q/k norms come with the base's tensors, attention_bias follows the base", () => {
		const config = derive(qwen3Moe, { model_type: "qwen3", head_dim: 16, attention_bias: true }, 0);
		assert.deepEqual(config.architectures, ["Qwen3MoeForCausalLM"]);
		assert.equal(config.head_dim, 16);
		assert.equal(config.attention_bias, true);
		assert.equal(config.moe_intermediate_size, 64);
		assert.equal("shared_expert_intermediate_size" in config, false);
		assert.equal(qwen3Moe.sharedExpertNames, undefined);
	});

	it("DeepSeek MoE: mergekit-moe's config keys, N shared experts, its experts-per-token default", () => {
		const config = derive(deepseekMoe, {}, 2);
		assert.deepEqual(config.architectures, ["DeepseekForCausalLM"]);
		assert.equal(config.model_type, "deepseek");
		assert.equal(config.n_routed_experts, 4);
		assert.equal(config.n_shared_experts, 2);
		assert.equal(config.first_k_dense_replace, 0);
		assert.equal(config.moe_layer_freq, 1);
		assert.equal(config.scoring_func, "softmax");
		assert.equal(config.norm_topk_prob, true);
		assert.equal(config.moe_intermediate_size, 64);
		assert.match(String((config.auto_map as Record<string, string>).AutoModelForCausalLM), /^deepseek-ai\/deepseek-moe-16b-base--modeling_deepseek\.DeepseekForCausalLM$/);
		assert.equal(derive(deepseekMoe, {}, 0).n_shared_experts, null);
		assert.equal(defaultExpertsPerToken(deepseekMoe, 1), 2);
		assert.equal(defaultExpertsPerToken(deepseekMoe, 0), 2);
		assert.equal(deepseekMoe.sharedExpertNames?.projection(2, "gate_proj"), "model.layers.2.mlp.shared_experts.gate_proj.weight");
		assert.equal(deepseekMoe.sharedExpertNames?.gate, undefined);
		assert.equal(deepseekMoe.fusedExpertNames, undefined);
	});

	it("training fields: defaults, set, and DeepSeek's aux_loss_alpha", () => {
		for (const arch of [qwen2Moe, qwen3Moe]) {
			const config = derive(arch, { model_type: arch === qwen3Moe ? "qwen3" : "llama" }, arch === qwen2Moe ? 1 : 0, { outputRouterLogits: true, routerAuxLossCoef: 0.02 });
			assert.equal(config.output_router_logits, true);
			assert.equal(config.router_aux_loss_coef, 0.02);
		}
		assert.equal(derive(deepseekMoe, {}, 0).aux_loss_alpha, 0.001);
		assert.equal(derive(deepseekMoe, {}, 0, { routerAuxLossCoef: 0.01 }).aux_loss_alpha, 0.01);
		assert.equal(derive(deepseekMoe, {}, 0, { outputRouterLogits: false, routerAuxLossCoef: 0.01 }).aux_loss_alpha, 0);
	});
});
