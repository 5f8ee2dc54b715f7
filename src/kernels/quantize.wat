;; Block quantizers of moe-merge's GGUF writer (src/gguf/), bit-identical to llama.cpp's reference
;; quantizers (ggml-quants.c quantize_row_*_ref, and gguf-py's gguf.quants, which reproduces them).
;;
;; Built by scripts/build-wasm.mjs into generated/quantize-wasm.ts. Instantiated on the compute engine's
;; shared memory (env.memory) beside kernels.wat, on its workers (src/kernels/encode-range.ts drives it:
;; f16/bf16 input is widened to f32 by kernels.wat into a worker's scratch first). Pointers are byte
;; offsets, treated as unsigned. Each kernel has a plain TypeScript twin in src/gguf/ that the tests
;; compare it with, byte for byte, and both are compared with blocks made by gguf-py.
;;
;; k-quants (Q4_K, Q5_K, Q6_K: blocks of 256) go here as further exports, one per type.
(module
	(import "env" "memory" (memory 1 65536 shared))

	;; f32 bits -> f16 bits, round to nearest even, f16 subnormals, Inf/NaN kept (as ggml's
	;; GGML_FP32_TO_FP16 and numpy's astype(float16)). Same algorithm as f16BitsFromF32Bits in
	;; src/safetensors/float-kernels.ts.
	(func $f16_bits (param $u i32) (result i32)
		(local $sign i32) (local $a i32) (local $shift i32) (local $sig i32) (local $kept i32) (local $rest i32) (local $half i32)
		(local.set $sign (i32.and (i32.shr_u (local.get $u) (i32.const 16)) (i32.const 0x8000)))
		(local.set $a (i32.and (local.get $u) (i32.const 0x7fffffff)))
		(if (i32.ge_u (local.get $a) (i32.const 0x38800000))
			(then
				;; >= 2^-14: a normal f16 unless it rounds past 65504; adding 0xfff plus the lowest kept bit rounds half to even.
				(if (i32.lt_u (local.get $a) (i32.const 0x477ff000))
					(then (return (i32.or (local.get $sign)
						(i32.shr_u (i32.add (i32.add (i32.sub (local.get $a) (i32.const 0x38000000)) (i32.const 0x0fff))
							(i32.and (i32.shr_u (local.get $a) (i32.const 13)) (i32.const 1))) (i32.const 13))))))
				(if (i32.gt_u (local.get $a) (i32.const 0x7f800000))
					(then (return (i32.or (i32.or (local.get $sign) (i32.const 0x7e00)) (i32.and (i32.shr_u (local.get $a) (i32.const 13)) (i32.const 0x03ff))))))
				(return (i32.or (local.get $sign) (i32.const 0x7c00)))))
		;; Below 2^-25 everything rounds to zero (exactly 2^-25 is a tie that goes to even zero).
		(if (i32.lt_u (local.get $a) (i32.const 0x33000000)) (then (return (local.get $sign))))
		;; Subnormal: the 24-bit significand shifted right so its unit is 2^-24, rounded to nearest even.
		(local.set $shift (i32.sub (i32.const 126) (i32.shr_u (local.get $a) (i32.const 23))))
		(local.set $sig (i32.or (i32.and (local.get $a) (i32.const 0x007fffff)) (i32.const 0x00800000)))
		(local.set $kept (i32.shr_u (local.get $sig) (local.get $shift)))
		(local.set $rest (i32.and (local.get $sig) (i32.sub (i32.shl (i32.const 1) (local.get $shift)) (i32.const 1))))
		(local.set $half (i32.shl (i32.const 1) (i32.sub (local.get $shift) (i32.const 1))))
		(if (i32.or (i32.gt_u (local.get $rest) (local.get $half))
				(i32.and (i32.eq (local.get $rest) (local.get $half)) (i32.and (local.get $kept) (i32.const 1))))
			(then (local.set $kept (i32.add (local.get $kept) (i32.const 1)))))
		(i32.or (local.get $sign) (local.get $kept)))

	;; round(x * id) for 4 lanes, as C's roundf (half away from zero), as i32: gguf-py's np_roundf,
	;; |v| -> floor(|v|) + floor(2 * (|v| - floor(|v|))), every step exact in f32, then x's sign.
	(func $round_scaled (param $x v128) (param $id v128) (result v128)
		(local $v v128) (local $a v128) (local $f v128)
		(local.set $v (f32x4.mul (local.get $x) (local.get $id)))
		(local.set $a (f32x4.abs (local.get $v)))
		(local.set $f (f32x4.floor (local.get $a)))
		(local.set $a (f32x4.add (local.get $f)
			(f32x4.floor (f32x4.mul (f32x4.sub (local.get $a) (local.get $f)) (f32x4.splat (f32.const 2))))))
		;; copysign: the rounded magnitude with v's sign bit (-0 truncates to 0).
		(i32x4.trunc_sat_f32x4_s (v128.or (local.get $a) (v128.and (local.get $v) (i32x4.splat (i32.const 0x80000000))))))

	;; Q8_0: blocks of 32 values -> 34 bytes: the scale d = max|x| / 127 as f16, then 32 int8
	;; round(x / d) computed as round(x * (1/d)) (0 when d = 0), exactly like quantize_row_q8_0_ref.
	;; src: 32 * blocks f32 (any alignment); dst: 34 * blocks bytes.
	(func (export "quantize_q8_0") (param $src i32) (param $dst i32) (param $blocks i32)
		(local $end i32) (local $amax v128) (local $m f32) (local $d f32) (local $id v128)
		(local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
		(local $x4 v128) (local $x5 v128) (local $x6 v128) (local $x7 v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $blocks) (i32.const 7))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $block
				(local.set $x0 (v128.load offset=0 (local.get $src)))
				(local.set $x1 (v128.load offset=16 (local.get $src)))
				(local.set $x2 (v128.load offset=32 (local.get $src)))
				(local.set $x3 (v128.load offset=48 (local.get $src)))
				(local.set $x4 (v128.load offset=64 (local.get $src)))
				(local.set $x5 (v128.load offset=80 (local.get $src)))
				(local.set $x6 (v128.load offset=96 (local.get $src)))
				(local.set $x7 (v128.load offset=112 (local.get $src)))
				;; max |x| over the block (exact: max only selects).
				(local.set $amax (f32x4.max
					(f32x4.max (f32x4.max (f32x4.abs (local.get $x0)) (f32x4.abs (local.get $x1)))
						(f32x4.max (f32x4.abs (local.get $x2)) (f32x4.abs (local.get $x3))))
					(f32x4.max (f32x4.max (f32x4.abs (local.get $x4)) (f32x4.abs (local.get $x5)))
						(f32x4.max (f32x4.abs (local.get $x6)) (f32x4.abs (local.get $x7))))))
				(local.set $m (f32.max
					(f32.max (f32x4.extract_lane 0 (local.get $amax)) (f32x4.extract_lane 1 (local.get $amax)))
					(f32.max (f32x4.extract_lane 2 (local.get $amax)) (f32x4.extract_lane 3 (local.get $amax)))))
				(local.set $d (f32.div (local.get $m) (f32.const 127)))
				(local.set $id (f32x4.splat (select (f32.const 0) (f32.div (f32.const 1) (local.get $d)) (f32.eq (local.get $d) (f32.const 0)))))
				(i32.store16 (local.get $dst) (call $f16_bits (i32.reinterpret_f32 (local.get $d))))
				;; 8 x 4 rounded i32 -> 2 x 16 saturated i8 (|q| <= 127 already).
				(v128.store offset=2 (local.get $dst)
					(i8x16.narrow_i16x8_s
						(i16x8.narrow_i32x4_s (call $round_scaled (local.get $x0) (local.get $id)) (call $round_scaled (local.get $x1) (local.get $id)))
						(i16x8.narrow_i32x4_s (call $round_scaled (local.get $x2) (local.get $id)) (call $round_scaled (local.get $x3) (local.get $id)))))
				(v128.store offset=18 (local.get $dst)
					(i8x16.narrow_i16x8_s
						(i16x8.narrow_i32x4_s (call $round_scaled (local.get $x4) (local.get $id)) (call $round_scaled (local.get $x5) (local.get $id)))
						(i16x8.narrow_i32x4_s (call $round_scaled (local.get $x6) (local.get $id)) (call $round_scaled (local.get $x7) (local.get $id)))))
				(local.set $src (i32.add (local.get $src) (i32.const 128)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 34)))
				(br_if $block (i32.lt_u (local.get $src) (local.get $end))))))
)
