import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { degenerateGateWarnings, gateLayerStats } from "../../src/gates/index.js";
import { symmetricEigenvalues } from "../../src/gates/symmetric-eigen.js";
import { formatLayers } from "../../src/gates/degenerate-warnings.js";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

/** Two unit rows in H = 4 with cosine c. */
function pairWithCosine(c: number): Float32Array {
	return Float32Array.from([1, 0, 0, 0, c, Math.sqrt(1 - c * c), 0, 0]);
}

describe("symmetric eigenvalues (Jacobi)", () => {
	it("the tridiagonal [[2,1,0],[1,2,1],[0,1,2]] has 2-√2, 2, 2+√2", () => {
		const eig = symmetricEigenvalues([2, 1, 0, 1, 2, 1, 0, 1, 2], 3);
		close(eig[0], 2 - Math.SQRT2);
		close(eig[1], 2);
		close(eig[2], 2 + Math.SQRT2);
	});

	it("a random 6×6 symmetric matrix: eigenvalues sum to the trace and their squares to the Frobenius norm", () => {
		const n = 6;
		const a = new Float64Array(n * n);
		let seed = 7;
		const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
		for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rnd();
		const eig = symmetricEigenvalues(a, n);
		let trace = 0, frob = 0;
		for (let i = 0; i < n; i++) trace += a[i * n + i];
		for (const x of a) frob += x * x;
		close(eig.reduce((s, x) => s + x, 0), trace);
		close(eig.reduce((s, x) => s + x * x, 0), frob);
		for (let i = 1; i < n; i++) assert.ok(eig[i] >= eig[i - 1]);
	});
});

describe("condition number and cosines of a layer's gate matrix", () => {
	it("hand-computed: [[3,0],[4,5]] has singular values √45 and √5, so condition number 3", () => {
		// AᵀA = [[25,20],[20,25]]: eigenvalues 45 and 5.
		const s = gateLayerStats(0, Float32Array.from([3, 0, 4, 5]), 2, 2);
		close(s.conditionNumber, 3);
		close(s.maxCosine, 12 / (3 * Math.sqrt(41)), 1e-7);
		assert.deepEqual(s.mostSimilar, [0, 1]);
	});

	it("orthonormal rows: 1; two unit rows with cosine c: √((1+c)/(1-c))", () => {
		close(gateLayerStats(0, Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), 3, 3).conditionNumber, 1);
		for (const c of [0, 0.5, 0.9, 0.95, -0.3]) {
			const s = gateLayerStats(0, pairWithCosine(c), 2, 4);
			close(s.conditionNumber, Math.sqrt((1 + Math.abs(c)) / (1 - Math.abs(c))), 1e-6);
			close(s.minCosine, c, 1e-6);
		}
	});

	it("equal rows, a zero row, and more rows than columns", () => {
		assert.equal(gateLayerStats(0, Float32Array.from([1, 2, 3, 1, 2, 3]), 2, 3).conditionNumber, Infinity);
		assert.equal(gateLayerStats(0, Float32Array.from([1, 2, 3, 0, 0, 0]), 2, 3).conditionNumber, Infinity);
		// 3 rows in H = 2: min(E, H) = 2 singular values, like torch.linalg.cond. AᵀA = [[2,1],[1,2]] → 3, 1.
		close(gateLayerStats(0, Float32Array.from([1, 0, 0, 1, 1, 1]), 3, 2).conditionNumber, Math.sqrt(3));
	});

	it("a single row: condition number 1, no pair", () => {
		const s = gateLayerStats(4, Float32Array.from([0.6, 0.8]), 1, 2);
		close(s.conditionNumber, 1);
		assert.equal(s.mostSimilar, undefined);
		assert.ok(Number.isNaN(s.maxCosine));
	});

	it("min/max cosine and the most similar pair among 3 rows", () => {
		const rows = Float32Array.from([1, 0, 0, 0.8, 0.6, 0, 0, 0, 1]);
		const s = gateLayerStats(0, rows, 3, 3);
		close(s.maxCosine, 0.8, 1e-7);
		close(s.minCosine, 0, 1e-7);
		assert.deepEqual(s.mostSimilar, [0, 1]);
	});
});

describe("degenerate gate warnings (condition number > 5, like mergekit)", () => {
	it("cosine 0.9 (condition 4.36) passes, cosine 0.95 (6.24) warns, naming the layer and the experts", () => {
		assert.deepEqual(degenerateGateWarnings([gateLayerStats(0, pairWithCosine(0.9), 2, 4)]), []);
		const warnings = degenerateGateWarnings([gateLayerStats(3, pairWithCosine(0.95), 2, 4)], ["./code", "./story"]);
		assert.equal(warnings.length, 1);
		assert.equal(
			warnings[0],
			"layer 3: degenerate gates (condition number 6.24 > 5); experts 0 (./code) and 1 (./story) have the most similar router rows (cosine 0.9500); their prompts may be too similar, so some experts will be underused",
		);
	});

	it("layers with the same most similar pair share one message; another pair gets its own", () => {
		const near01 = Float32Array.from([1, 0, 0, 0.99, 0.141, 0, 0, 0, 1]);
		const near12 = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0.99, 0.141]);
		const fine = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
		const stats = [near01, near01, fine, near01, near12].map((m, l) => gateLayerStats(l, m, 3, 3));
		const warnings = degenerateGateWarnings(stats);
		assert.equal(warnings.length, 2);
		assert.match(warnings[0], /^layers 0-1, 3: degenerate gates \(condition number 1[0-9.]+ > 5\); experts 0 and 1 have the most similar router rows \(cosine 0\.99\d\d\)/);
		assert.match(warnings[1], /^layer 4: .* experts 1 and 2 /);
	});

	it("different figures in one group are given as ranges", () => {
		const [w] = degenerateGateWarnings([gateLayerStats(0, pairWithCosine(0.95), 2, 4), gateLayerStats(1, pairWithCosine(0.97), 2, 4)]);
		assert.match(w, /^layers 0-1: degenerate gates \(condition number 6\.24 to 8\.1\d > 5\); experts 0 and 1 have the most similar router rows \(cosine 0\.9500 to 0\.9700\)/);
	});

	it("layer lists", () => {
		assert.equal(formatLayers([0, 1, 2, 5, 7, 8]), "0-2, 5, 7-8");
		assert.equal(formatLayers([4]), "4");
	});
});
