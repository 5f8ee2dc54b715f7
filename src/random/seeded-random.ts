/**
 * A small, fast, seedable generator (xoshiro128**) so that random gates and expert noise are
 * reproducible from `--random-seed` alone, independent of tensor order, chunk size or threads: every
 * stream is keyed by (seed, purpose string), e.g. (42, "noise/expert1/model.layers.3.mlp.up_proj.weight").
 */
export class SeededRandom {
	private s0: number;
	private s1: number;
	private s2: number;
	private s3: number;
	private spare = 0;
	private hasSpare = false;

	constructor(seed: number, key = "") {
		// splitmix32 over a hash of (seed, key) fills the state; never all zero.
		let h = hashString(key, seed >>> 0) ^ Math.floor(seed / 2 ** 32);
		const next = () => {
			h = (h + 0x9e3779b9) | 0;
			let z = h;
			z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
			z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
			return (z ^ (z >>> 16)) >>> 0;
		};
		this.s0 = next();
		this.s1 = next();
		this.s2 = next();
		this.s3 = next() | 1;
	}

	/** Next 32 random bits. */
	nextUint32(): number {
		const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
		const t = this.s1 << 9;
		this.s2 ^= this.s0;
		this.s3 ^= this.s1;
		this.s1 ^= this.s2;
		this.s0 ^= this.s3;
		this.s2 ^= t;
		this.s3 = rotl(this.s3, 11);
		return result;
	}

	/** Uniform in [0, 1) with 32 bits of resolution. */
	uniform(): number {
		return this.nextUint32() / 4294967296;
	}

	/** Standard normal (Marsaglia polar method; the second value is kept for the next call). */
	normal(): number {
		if (this.hasSpare) {
			this.hasSpare = false;
			return this.spare;
		}
		let u: number, v: number, s: number;
		do {
			u = this.uniform() * 2 - 1;
			v = this.uniform() * 2 - 1;
			s = u * u + v * v;
		} while (s >= 1 || s === 0);
		const m = Math.sqrt((-2 * Math.log(s)) / s);
		this.spare = v * m;
		this.hasSpare = true;
		return u * m;
	}

	/** Fills `out` with N(0, std²) samples. */
	fillNormal(out: Float32Array, std = 1): Float32Array {
		for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
		return out;
	}

	/** Fills `out` with U(lo, hi) samples. */
	fillUniform(out: Float32Array, lo: number, hi: number): Float32Array {
		const span = hi - lo;
		for (let i = 0; i < out.length; i++) out[i] = lo + this.uniform() * span;
		return out;
	}
}

function rotl(x: number, k: number): number {
	return (x << k) | (x >>> (32 - k));
}

/** FNV-1a over UTF-16 code units, seeded. */
function hashString(text: string, seed: number): number {
	let h = (0x811c9dc5 ^ seed) >>> 0;
	for (let i = 0; i < text.length; i++) {
		h ^= text.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	return h >>> 0;
}
