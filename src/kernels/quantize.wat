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
	;; One block: its 32 values as 8 x 4 f32 lanes x0..x7 -> 34 bytes at dst. The loops below load (and
	;; widen) a block and call this once per block: the call is small next to the block's work.
	(func $q8_0_block
		(param $x0 v128) (param $x1 v128) (param $x2 v128) (param $x3 v128)
		(param $x4 v128) (param $x5 v128) (param $x6 v128) (param $x7 v128) (param $dst i32)
		(local $amax v128) (local $m f32) (local $d f32) (local $id v128)
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
				(i16x8.narrow_i32x4_s (call $round_scaled (local.get $x6) (local.get $id)) (call $round_scaled (local.get $x7) (local.get $id))))))

	;; Q8_0 from f32. src: 32 * blocks f32 (any alignment); dst: 34 * blocks bytes.
	(func (export "quantize_q8_0") (param $src i32) (param $dst i32) (param $blocks i32)
		(local $end i32)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $blocks) (i32.const 7))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $block
				(call $q8_0_block
					(v128.load offset=0 (local.get $src)) (v128.load offset=16 (local.get $src))
					(v128.load offset=32 (local.get $src)) (v128.load offset=48 (local.get $src))
					(v128.load offset=64 (local.get $src)) (v128.load offset=80 (local.get $src))
					(v128.load offset=96 (local.get $src)) (v128.load offset=112 (local.get $src))
					(local.get $dst))
				(local.set $src (i32.add (local.get $src) (i32.const 128)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 34)))
				(br_if $block (i32.lt_u (local.get $src) (local.get $end))))))

	;; Q8_0 from bf16, widened in registers (no pass through memory): a bf16's f32 bits are its bits
	;; << 16, i.e. 8 bf16 interleaved with zeros (punpcklwd / punpckhwd) are 2 x 4 f32, exactly.
	;; src: 32 * blocks bf16 (any alignment); dst: 34 * blocks bytes.
	(func (export "quantize_q8_0_bf16") (param $src i32) (param $dst i32) (param $blocks i32)
		(local $end i32) (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $blocks) (i32.const 6))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $block
				(local.set $h0 (v128.load offset=0 (local.get $src)))
				(local.set $h1 (v128.load offset=16 (local.get $src)))
				(local.set $h2 (v128.load offset=32 (local.get $src)))
				(local.set $h3 (v128.load offset=48 (local.get $src)))
				(call $q8_0_block
					(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $h0))
					(i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $h0))
					(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $h1))
					(i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $h1))
					(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $h2))
					(i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $h2))
					(i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $h3))
					(i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $h3))
					(local.get $dst))
				(local.set $src (i32.add (local.get $src) (i32.const 64)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 34)))
				(br_if $block (i32.lt_u (local.get $src) (local.get $end))))))

	;; 4 f16 (as u32 lanes) -> their exact f32 values, bit for bit as kernels.wat's cvt_f16_f32 (see
	;; there: (h & 0x7fff) << 13 times 2^112, the exponent made all ones for Inf/NaN, then the sign).
	(func $f16_f32x4 (param $h v128) (result v128)
		(v128.or
			(v128.or
				(f32x4.mul
					(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13))
					(v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
				(v128.and
					(i32x4.eq
						(v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
						(v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
					(v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
			(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))

	;; Q8_0 from f16, widened in registers by $f16_f32x4. src: 32 * blocks f16; dst: 34 * blocks bytes.
	(func (export "quantize_q8_0_f16") (param $src i32) (param $dst i32) (param $blocks i32)
		(local $end i32)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $blocks) (i32.const 6))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $block
				(call $q8_0_block
					(call $f16_f32x4 (v128.load16x4_u offset=0 (local.get $src))) (call $f16_f32x4 (v128.load16x4_u offset=8 (local.get $src)))
					(call $f16_f32x4 (v128.load16x4_u offset=16 (local.get $src))) (call $f16_f32x4 (v128.load16x4_u offset=24 (local.get $src)))
					(call $f16_f32x4 (v128.load16x4_u offset=32 (local.get $src))) (call $f16_f32x4 (v128.load16x4_u offset=40 (local.get $src)))
					(call $f16_f32x4 (v128.load16x4_u offset=48 (local.get $src))) (call $f16_f32x4 (v128.load16x4_u offset=56 (local.get $src)))
					(local.get $dst))
				(local.set $src (i32.add (local.get $src) (i32.const 64)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 34)))
				(br_if $block (i32.lt_u (local.get $src) (local.get $end))))))
)
