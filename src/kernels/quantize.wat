;; Block quantizers of moe-merge's GGUF writer (src/gguf/), bit-identical to llama.cpp's reference
;; quantizers (ggml-quants.c quantize_row_*_ref, and gguf-py's gguf.quants, which reproduces them).
;;
;; Built by scripts/build-wasm.mjs into generated/quantize-wasm.ts. Instantiated on the compute engine's
;; shared memory (env.memory) beside kernels.wat, on its workers (src/kernels/encode-range.ts drives it;
;; f16/bf16 input is widened to f32 in registers, block by block). Pointers are byte
;; offsets, treated as unsigned. Each kernel has a plain TypeScript twin in src/gguf/ that the tests
;; compare it with, byte for byte, and both are compared with blocks made by gguf-py.
;;
;; k-quants (Q4_K, Q5_K, Q6_K: blocks of 256) go here as further exports, one per type.
(module
	(import "env" "memory" (memory 1 65536 shared))

	;; f32 -> f16 bits of 4 lanes, round to nearest even, f16 subnormals, Inf/NaN kept (as ggml's
	;; GGML_FP32_TO_FP16 and numpy's astype(float16); kernels.wat's $f16_bits4, the same algorithm as
	;; f16BitsFromF32Bits in src/safetensors/float-kernels.ts). a = |x| bits; the cases, without branches:
	;;   a >= 2^-14 (0x38800000): a normal f16: rebias the exponent (-112 << 23), add 0xfff plus the
	;;       lowest kept bit (round half to even), keep bits 13 and up (a carry may reach Inf);
	;;   a <  2^-14: |x| + 0.5 in f32 rounds |x| to a multiple of 2^-24 (nearest even: exactly f16's
	;;       subnormal step), and its bits minus those of 0.5 are the f16 bits (0 below 2^-25);
	;;   a >= 65520 (0x477ff000, rounds past 65504): Inf; a NaN: quiet, top payload bits kept.
	(func $f16_bits4 (param $u v128) (result v128)
		(local $a v128) (local $r v128)
		(local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
		(local.set $r (v128.bitselect
			(i32x4.shr_u
				(i32x4.add
					(i32x4.add (local.get $a) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
					(v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
				(i32.const 13))
			(i32x4.sub
				(f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
				(v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
			(i32x4.gt_s (local.get $a) (v128.const i32x4 0x387fffff 0x387fffff 0x387fffff 0x387fffff))))
		(local.set $r (v128.bitselect
			(v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)
			(local.get $r)
			(i32x4.gt_s (local.get $a) (v128.const i32x4 0x477fefff 0x477fefff 0x477fefff 0x477fefff))))
		(local.set $r (v128.bitselect
			(v128.or
				(v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00)
				(v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 0x3ff 0x3ff 0x3ff 0x3ff)))
			(local.get $r)
			(i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
		(v128.or (local.get $r)
			(v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))

	;; Q8_0: blocks of 32 values -> 34 bytes: the scale d = max|x| / 127 as f16, then 32 int8
	;; round(x / d) computed as round(x * (1/d)) (0 when d = 0), exactly like quantize_row_q8_0_ref;
	;; round as C's roundf (half away from zero), as gguf-py's np_roundf and src/gguf/q8-0.ts.
	;;
	;; Groups of 4 blocks, in two passes, so that no long chain of dependent operations runs per block
	;; (one block's max -> divisions -> rounding was ~100 cycles of latency, one block at a time):
	;;   1. each 4 values read (f32, or f16/bf16 widened exactly to f32) go to the scratch as f32 and
	;;      into their block's max |x|; the 4 maxima end in the lanes of one vector, so both divisions
	;;      and the scale's f16 rounding run once for the 4 blocks, in SIMD;
	;;   2. the group's f32 values are read back from the scratch (L1), scaled, rounded, stored as i8.
	;; `sdtype`: 0 f32, 1 f16, 2 bf16 (src any alignment); `blocks`: a multiple of 4 (the caller does the
	;; last blocks mod 4 through a padded copy, src/kernels/encode-range.ts); `scratch`: 512 bytes.
	(func (export "quantize_q8_0") (param $src i32) (param $sdtype i32) (param $dst i32) (param $blocks i32) (param $scratch i32)
		(local $end i32) (local $p i32) (local $j i32) (local $c i32) (local $h v128)
		(local $x v128) (local $amax v128) (local $maxima v128) (local $d v128) (local $id v128) (local $scales v128)
		(local $v v128) (local $a v128) (local $f v128) (local $s v128) (local $q0 v128) (local $q1 v128)
		(local.set $end (i32.add (local.get $src)
			(i32.shl (i32.and (local.get $blocks) (i32.const -4)) (select (i32.const 7) (i32.const 6) (i32.eqz (local.get $sdtype))))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $group
				;; pass 1: 4 blocks of 8 x 4 values -> scratch, and max |x| of each block into $maxima
				(local.set $p (local.get $scratch))
				(local.set $j (i32.const 4))
				(loop $block
					(local.set $amax (v128.const i32x4 0 0 0 0))
					(local.set $c (i32.const 8))
					(loop $chunk
						(if (i32.eqz (local.get $sdtype))
							(then
								(local.set $x (v128.load (local.get $src)))
								(local.set $src (i32.add (local.get $src) (i32.const 16))))
							(else
								(local.set $h (v128.load16x4_u (local.get $src)))
								(local.set $src (i32.add (local.get $src) (i32.const 8)))
								(if (i32.eq (local.get $sdtype) (i32.const 2))
									;; bf16: its bits are the f32's high half
									(then (local.set $x (i32x4.shl (local.get $h) (i32.const 16))))
									;; f16, exact, as kernels.wat's cvt_f16_f32 (see there): (h & 0x7fff) << 13
									;; times 2^112, the exponent made all ones for Inf/NaN, then the sign
									(else (local.set $x (v128.or
										(v128.or
											(f32x4.mul
												(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13))
												(v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
											(v128.and
												(i32x4.eq
													(v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
													(v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
												(v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
										(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))))))
						(v128.store (local.get $p) (local.get $x))
						;; max |x|: |x|'s bits are non-negative i32s ordered as the values are (NaNs above Inf),
						;; so one pmaxsd instead of f32x4.max's NaN and -0 handling (~8 instructions)
						(local.set $amax (i32x4.max_s (local.get $amax)
							(v128.and (local.get $x) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
						(local.set $p (i32.add (local.get $p) (i32.const 16)))
						(br_if $chunk (local.tee $c (i32.sub (local.get $c) (i32.const 1)))))
					;; the block's max in every lane (halves, then pairs), shifted into $maxima's last lane
					(local.set $amax (i32x4.max_s (local.get $amax) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $amax) (local.get $amax))))
					(local.set $amax (i32x4.max_s (local.get $amax) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $amax) (local.get $amax))))
					(local.set $maxima (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 (local.get $maxima) (local.get $amax)))
					(br_if $block (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))
				;; d = max / 127, id = 1 / d (0 where d = 0), for the 4 blocks at once (IEEE division, so
				;; the same as the scalar reference's)
				;; a NaN maximum as x64's default NaN, 0xffc00000 (what f32x4.max gave here before, and the
				;; plain reference's Math.max on x64), so a block with a NaN gets the scale 0xfe00 as there
				(local.set $maxima (v128.bitselect (v128.const i32x4 0xffc00000 0xffc00000 0xffc00000 0xffc00000) (local.get $maxima)
					(i32x4.gt_s (local.get $maxima) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
				(local.set $d (f32x4.div (local.get $maxima) (v128.const f32x4 127 127 127 127)))
				(local.set $id (v128.andnot
					(f32x4.div (v128.const f32x4 1 1 1 1) (local.get $d))
					(f32x4.eq (local.get $d) (v128.const f32x4 0 0 0 0))))
				(local.set $scales (call $f16_bits4 (local.get $d)))
				;; pass 2: per block, its f16 scale then 8 x 4 rounded values
				(local.set $p (local.get $scratch))
				(local.set $j (i32.const 4))
				(loop $block
					(i32.store16 (local.get $dst) (i32x4.extract_lane 0 (local.get $scales)))
					(local.set $f (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $id) (local.get $id)))
					;; 8 values per iteration. round(v), v = x * id: with a = |v| and t = trunc(a), roundf's
					;; magnitude is t + 1 if a - t >= 0.5 (exact in f32), else t; as an integer: the bits of
					;; that + 2^23 minus 2^23's (an integer below 2^23 is the low mantissa bits there); 0 where
					;; v is not finite (as the reference's `q & 0xff`: a NaN or an infinite v gives 0), then
					;; v's sign: (q ^ s) - s with s = 0 or -1.
					(local.set $c (i32.const 4))
					(loop $chunk
						(local.set $v (f32x4.mul (v128.load offset=0 (local.get $p)) (local.get $f)))
						(local.set $a (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
						(local.set $x (f32x4.trunc (local.get $a)))
						(local.set $q0 (v128.and
							(i32x4.sub
								(f32x4.add
									(f32x4.add (local.get $x) (v128.and (f32x4.ge (f32x4.sub (local.get $a) (local.get $x)) (v128.const f32x4 0.5 0.5 0.5 0.5)) (v128.const f32x4 1 1 1 1)))
									(v128.const f32x4 8388608 8388608 8388608 8388608))
								(v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000))
							(f32x4.lt (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
						(local.set $s (i32x4.shr_s (local.get $v) (i32.const 31)))
						(local.set $q0 (i32x4.sub (v128.xor (local.get $q0) (local.get $s)) (local.get $s)))
						(local.set $v (f32x4.mul (v128.load offset=16 (local.get $p)) (local.get $f)))
						(local.set $a (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
						(local.set $x (f32x4.trunc (local.get $a)))
						(local.set $q1 (v128.and
							(i32x4.sub
								(f32x4.add
									(f32x4.add (local.get $x) (v128.and (f32x4.ge (f32x4.sub (local.get $a) (local.get $x)) (v128.const f32x4 0.5 0.5 0.5 0.5)) (v128.const f32x4 1 1 1 1)))
									(v128.const f32x4 8388608 8388608 8388608 8388608))
								(v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000))
							(f32x4.lt (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
						(local.set $s (i32x4.shr_s (local.get $v) (i32.const 31)))
						(local.set $q1 (i32x4.sub (v128.xor (local.get $q1) (local.get $s)) (local.get $s)))
						;; |q| <= 127, so the saturating narrowings keep it: 8 bytes
						(local.set $q0 (i16x8.narrow_i32x4_s (local.get $q0) (local.get $q1)))
						(v128.store64_lane offset=2 0 (local.get $dst) (i8x16.narrow_i16x8_s (local.get $q0) (local.get $q0)))
						(local.set $p (i32.add (local.get $p) (i32.const 32)))
						(local.set $dst (i32.add (local.get $dst) (i32.const 8)))
						(br_if $chunk (local.tee $c (i32.sub (local.get $c) (i32.const 1)))))
					(local.set $dst (i32.add (local.get $dst) (i32.const 2)))
					(local.set $scales (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3 (local.get $scales) (local.get $scales)))
					(local.set $id (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3 (local.get $id) (local.get $id)))
					(br_if $block (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))
				(br_if $group (i32.lt_u (local.get $src) (local.get $end))))))
)
