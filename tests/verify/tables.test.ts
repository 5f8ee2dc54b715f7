import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expectedTensors, readMoeDims } from "../../src/verify/check-config-tensors.js";
import { architectureByModelType } from "../../src/architectures/registry.js";
import { referenceNames } from "./helpers.js";

describe("the architecture descriptions' tensor names (as verify expects them) match what transformers builds from the same config", () => {
	for (const version of [4, 5] as const) {
		it(`transformers ${version}: Mixtral, Qwen2-MoE (shared expert, a dense layer), Qwen3-MoE (q/k norms, biases)`, async () => {
			const reference = await referenceNames(version);
			assert.deepEqual(Object.keys(reference.models).sort(), ["mixtral", "qwen2_moe", "qwen3_moe"]);
			for (const [modelType, { config, tensors }] of Object.entries(reference.models)) {
				const arch = architectureByModelType(modelType)!;
				const dims = readMoeDims(config, arch);
				assert.notEqual(typeof dims, "string", `${modelType}: ${String(dims)}`);
				const present = new Map(Object.entries(tensors));
				const expected = expectedTensors(arch, dims as Exclude<typeof dims, string>, present);
				assert.deepEqual(Object.fromEntries([...expected].sort()), Object.fromEntries([...present].sort()), `${modelType} under transformers ${reference.transformers}`);
			}
		});
	}

	it("Qwen's expert count is read under either name (transformers 5 writes num_local_experts), as the report reads it", async () => {
		const { config, tensors } = (await referenceNames(5)).models.qwen2_moe!;
		const { num_experts: experts, ...renamed } = config;
		const arch = architectureByModelType("qwen2_moe")!;
		const dims = readMoeDims({ ...renamed, num_local_experts: experts }, arch);
		assert.notEqual(typeof dims, "string", String(dims));
		const present = new Map(Object.entries(tensors));
		assert.deepEqual(Object.fromEntries([...expectedTensors(arch, dims as Exclude<typeof dims, string>, present)].sort()), Object.fromEntries([...present].sort()));
	});
});
