/**
 * Rotary position embeddings exactly as transformers computes them: inverse frequencies for every rope
 * type the four supported architectures accept, evaluated with torch's float32 arithmetic (each
 * intermediate rounded to f32, python scalars cast to f32 first, `scalar / tensor` done as
 * `tensor.reciprocal() * scalar`), so inverse frequencies match bit for bit and cos/sin within 1-2 ulp.
 */
import { ModelError } from "../errors.js";
import type { DenseConfig } from "../inputs/dense-config.js";

const f = Math.fround;

/** cos/sin for positions 0..T-1, [T][half]; transformers duplicates them over both halves (cat(freqs, freqs)). */
export interface RopeTables {
	cos: Float32Array;
	sin: Float32Array;
}

export interface Rope {
	/** head_dim / 2: the number of rotated pairs (i, i + half). */
	readonly half: number;
	/** The inverse frequencies used for a prompt of `seqLen` tokens (dynamic and longrope depend on it). */
	invFreq(seqLen: number): Float32Array;
	tables(seqLen: number): RopeTables;
}

const SUPPORTED = ["default", "linear", "dynamic", "yarn", "longrope", "llama3"];

/** Reads the rope parameters of `config`; a ModelError names config.json for anything transformers would not run. */
export function buildRope(config: DenseConfig): Rope {
	const scaling = config.ropeScaling ?? {};
	const type = (scaling.rope_type ?? scaling.type ?? "default") as string;
	const bad = (what: string): never => {
		throw new ModelError(`${config.file}: rope scaling ${JSON.stringify(config.ropeScaling)}: ${what}`, { file: config.file });
	};
	if (!SUPPORTED.includes(type)) bad(`rope_type "${type}" is not supported (supported: ${SUPPORTED.join(", ")})`);
	const dim = config.headDim;
	if (dim % 2 !== 0) bad(`head_dim ${dim} is odd`);
	// Llama/Mistral/Qwen2/Qwen3 ignore partial_rotary_factor for default rope; the scaled types shrink
	// their frequencies to int(head_dim * factor) but still rotate the whole head, which fails in transformers.
	if (type !== "default" && config.partialRotaryFactor !== 1 && Math.trunc(dim * config.partialRotaryFactor) !== dim) {
		bad(`partial_rotary_factor ${config.partialRotaryFactor} is not supported by ${config.modelType} models (transformers fails on it too)`);
	}
	const num = (key: string, fallback?: number): number => {
		const v = scaling[key] ?? fallback;
		if (typeof v !== "number" || !Number.isFinite(v)) bad(`"${key}" must be a number, got ${JSON.stringify(scaling[key])}`);
		return v as number;
	};
	const theta = config.ropeTheta;
	// transformers gives a top-level original_max_position_embeddings (Phi3 style) priority over the rope dict's.
	const originalMax = (): number => {
		const top = config.raw.original_max_position_embeddings;
		return typeof top === "number" ? top : num("original_max_position_embeddings", config.maxPositionEmbeddings);
	};

	let fixed: Float32Array;
	let scalingFactor = 1;
	let variant: ((seqLen: number) => Float32Array | null) | null = null;
	switch (type) {
		case "default":
			fixed = defaultInvFreq(theta, dim);
			break;
		case "linear": {
			const factor = f(num("factor"));
			fixed = defaultInvFreq(theta, dim).map((v) => f(v / factor));
			break;
		}
		case "dynamic": {
			const factor = num("factor");
			const maxPos = config.maxPositionEmbeddings;
			fixed = defaultInvFreq(theta, dim);
			// NTK scaling only changes the frequencies for prompts longer than max_position_embeddings.
			variant = (seqLen) => (seqLen > maxPos ? dynamicInvFreq(theta, dim, factor, seqLen, maxPos) : null);
			break;
		}
		case "llama3":
			fixed = llama3InvFreq(theta, dim, num("factor"), num("low_freq_factor"), num("high_freq_factor"), originalMax());
			break;
		case "yarn": {
			const omp = originalMax();
			const factor = scaling.factor == null ? config.maxPositionEmbeddings / omp : num("factor");
			const yarn = yarnInvFreq(theta, dim, factor, omp, {
				attentionFactor: scaling.attention_factor == null ? undefined : num("attention_factor"),
				mscale: typeof scaling.mscale === "number" ? scaling.mscale : undefined,
				mscaleAllDim: typeof scaling.mscale_all_dim === "number" ? scaling.mscale_all_dim : undefined,
				betaFast: typeof scaling.beta_fast === "number" && scaling.beta_fast !== 0 ? scaling.beta_fast : 32,
				betaSlow: typeof scaling.beta_slow === "number" && scaling.beta_slow !== 0 ? scaling.beta_slow : 1,
				truncate: scaling.truncate !== false,
			});
			fixed = yarn.invFreq;
			scalingFactor = yarn.attentionFactor;
			break;
		}
		case "longrope": {
			const omp = originalMax();
			const factors = (key: string): number[] => {
				const v = scaling[key];
				if (!Array.isArray(v) || v.length !== dim / 2 || !v.every((x) => typeof x === "number")) bad(`"${key}" must list ${dim / 2} numbers`);
				return v as number[];
			};
			const short = longropeInvFreq(theta, dim, factors("short_factor"));
			const long = longropeInvFreq(theta, dim, factors("long_factor"));
			const factor = scaling.factor == null ? config.maxPositionEmbeddings / omp : num("factor");
			scalingFactor = scaling.attention_factor != null
				? num("attention_factor")
				: factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(omp));
			fixed = short;
			variant = (seqLen) => (seqLen > omp ? long : null);
			break;
		}
		default:
			return bad(`rope_type "${type}" is not supported`);
	}
	return new RopeImpl(dim / 2, fixed, variant, scalingFactor);
}

class RopeImpl implements Rope {
	constructor(
		readonly half: number,
		private readonly fixed: Float32Array,
		private readonly variant: ((seqLen: number) => Float32Array | null) | null,
		private readonly attentionScaling: number,
	) {}

	invFreq(seqLen: number): Float32Array {
		return this.variant?.(seqLen) ?? this.fixed;
	}

	tables(seqLen: number): RopeTables {
		const inv = this.invFreq(seqLen);
		const half = this.half;
		const cos = new Float32Array(seqLen * half);
		const sin = new Float32Array(seqLen * half);
		const s = f(this.attentionScaling);
		for (let t = 0; t < seqLen; t++) {
			for (let i = 0; i < half; i++) {
				// freqs = inv_freq @ position_ids in f32, then cos/sin in f32, times attention_scaling.
				const angle = f(inv[i]! * t);
				cos[t * half + i] = s === 1 ? Math.cos(angle) : f(Math.cos(angle)) * s;
				sin[t * half + i] = s === 1 ? Math.sin(angle) : f(Math.sin(angle)) * s;
			}
		}
		return { cos, sin };
	}
}

/** arange(0, dim, 2).float() / dim, in f32. */
function exponents(dim: number): Float32Array {
	const out = new Float32Array(dim / 2);
	for (let i = 0; i < out.length; i++) out[i] = (2 * i) / dim;
	return out;
}

/** 1 / base ** (arange(0, dim, 2) / dim), every step in f32 like torch. */
function defaultInvFreq(base: number, dim: number): Float32Array {
	const b = f(base);
	return exponents(dim).map((e) => f(1 / f(Math.pow(b, e))));
}

/** transformers' _compute_dynamic_ntk_parameters for a prompt of seqLen > max_position_embeddings tokens. */
function dynamicInvFreq(base: number, dim: number, factor: number, seqLen: number, maxPos: number): Float32Array {
	// seq_len is a 0-dim int64 tensor there, so this runs in f32 too.
	let x = f(f(factor) * seqLen);
	x = f(x / maxPos);
	x = f(x - f(factor - 1));
	x = f(Math.pow(x, f(dim / (dim - 2))));
	const scaledBase = f(f(base) * x);
	return exponents(dim).map((e) => f(1 / f(Math.pow(scaledBase, e))));
}

function llama3InvFreq(base: number, dim: number, factor: number, lowFreqFactor: number, highFreqFactor: number, oldContextLen: number): Float32Array {
	const inv = defaultInvFreq(base, dim);
	const lowWavelen = f(oldContextLen / lowFreqFactor);
	const highWavelen = f(oldContextLen / highFreqFactor);
	const fFactor = f(factor);
	const twoPi = f(2 * Math.PI);
	return inv.map((v) => {
		const wavelen = f(f(1 / v) * twoPi);
		const scaled = wavelen > lowWavelen ? f(v / fFactor) : v;
		if (wavelen < highWavelen || wavelen > lowWavelen) return scaled;
		const smooth = f(f(f(f(1 / wavelen) * f(oldContextLen)) - f(lowFreqFactor)) / f(highFreqFactor - lowFreqFactor));
		return f(f(f(f(1 - smooth) * scaled) / fFactor) + f(smooth * scaled));
	});
}

interface YarnOptions {
	attentionFactor?: number;
	mscale?: number;
	mscaleAllDim?: number;
	betaFast: number;
	betaSlow: number;
	truncate: boolean;
}

function yarnInvFreq(base: number, dim: number, factor: number, originalMax: number, o: YarnOptions): { invFreq: Float32Array; attentionFactor: number } {
	const getMscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
	let attentionFactor = o.attentionFactor;
	if (attentionFactor === undefined) {
		attentionFactor = o.mscale && o.mscaleAllDim ? getMscale(factor, o.mscale) / getMscale(factor, o.mscaleAllDim) : getMscale(factor);
	}
	// Inverse dimension formula: the dimension whose wavelength makes numRotations turns over originalMax.
	const correctionDim = (rotations: number): number => (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
	let low = correctionDim(o.betaFast);
	let high = correctionDim(o.betaSlow);
	if (o.truncate) {
		low = Math.floor(low);
		high = Math.ceil(high);
	}
	low = Math.max(low, 0);
	high = Math.min(high, dim - 1);
	if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
	const fb = f(base);
	const fFactor = f(factor);
	const fLow = f(low);
	const width = f(high - low);
	return {
		attentionFactor,
		invFreq: exponents(dim).map((e, i) => {
			const posFreq = f(Math.pow(fb, e));
			const extrapolation = f(1 / posFreq);
			const interpolation = f(1 / f(fFactor * posFreq));
			const ramp = Math.min(1, Math.max(0, f(f(i - fLow) / width)));
			const extrapolationFactor = f(1 - ramp);
			return f(f(interpolation * f(1 - extrapolationFactor)) + f(extrapolation * extrapolationFactor));
		}),
	};
}

function longropeInvFreq(base: number, dim: number, extFactors: number[]): Float32Array {
	const fb = f(base);
	return exponents(dim).map((e, i) => f(1 / f(f(extFactors[i]!) * f(Math.pow(fb, e)))));
}
