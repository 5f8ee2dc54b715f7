;; Compute kernels of moe-merge: f32 GEMM on packed weights, bf16/f16 -> f32 conversion, packing.
;;
;; Built by scripts/build-wasm.mjs into two modules (embedded as base64 in generated/kernels-wasm.ts):
;;   - "relaxed": exactly this text; every multiply-add is `f32x4.relaxed_madd`, which V8 compiles to
;;     one FMA instruction (vfmadd231ps) on x64 CPUs with FMA3.
;;   - "simd": the same text with every `(f32x4.relaxed_madd a b c)` rewritten to
;;     `(f32x4.add (f32x4.mul a b) c)`, for engines without relaxed SIMD.
;; So write multiply-adds only as `(f32x4.relaxed_madd A B C)` = A*B + C; nothing else may be relaxed.
;;
;; All pointers are byte offsets into the one shared memory (imported as env.memory) and are treated as
;; unsigned (the memory may reach 4 GiB): compare them with *_u instructions only.
;;
;; Data layouts (f32 everywhere once packed):
;;   W   a PyTorch Linear weight [N][K] (out x in), row-major, any of f32/f16/bf16, in a staging buffer.
;;   Kp  K rounded up to a multiple of 4; packed data is zero in k in [K, Kp).
;;   KC  the k block: 256. B is cut in blocks of 256 values of k (the last one: Kp mod 256, or 256).
;;   B   packed W: panels of 8 output columns (panel p = rows 8p..8p+7 of W, zero past N), stored
;;       k block by k block; within k block kb (k0 = 256*kb, kl = its length), the pieces of all
;;       panels follow each other, and piece p holds for k = k0..k0+kl-1 the 8 values W[8p+0..7][k]:
;;         B[kb][p][k - k0][0..7] at  b + (k0*panels + p*kl + (k - k0))*32.
;;       So the micro-kernel streams one 8 KiB piece, and a task walking consecutive panels of a
;;       k block reads consecutive memory, one stream for the hardware prefetcher (with whole
;;       panels stored one after the other, every piece starts a new stream 32*Kp bytes away).
;;   X   the input [M][K], row-major f32, in a staging buffer.
;;   A   packed X: blocks of 4 rows; block i holds, for k = 0..Kp-1, X[4i+0..3][k] contiguously:
;;       A[i][k][0..3] at  a + (i*Kp + k)*16. Rows past M are zero.
;;   C   the output [Mp][ldc/4] row-major (Mp = M rounded up to 4, ldc >= 8 * panels * 4 bytes).
(module
	(import "env" "memory" (memory 1 65536 shared))

	;; ------------------------------------------------------------------------------------------------
	;; Conversion to f32. `src` may be unaligned; `n` any count (SIMD body, scalar tail).

	;; bf16 -> f32 is exact: the bf16 bits become the high half of the f32 bits.
	(func $cvt_bf16_f32 (export "cvt_bf16_f32") (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32)
		;; SIMD body: 8 values per iteration. v128.load16x4_u zero-extends 4 u16 to 4 u32.
		(local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 1))))
		(block $body_done
			(br_if $body_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(v128.store offset=0 (local.get $dst) (i32x4.shl (v128.load16x4_u offset=0 (local.get $src)) (i32.const 16)))
				(v128.store offset=16 (local.get $dst) (i32x4.shl (v128.load16x4_u offset=8 (local.get $src)) (i32.const 16)))
				(local.set $src (i32.add (local.get $src) (i32.const 16)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 32)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end)))))
		;; Tail: up to 7 values.
		(local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 1))))
		(block $tail_done
			(br_if $tail_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $tail
				(i32.store (local.get $dst) (i32.shl (i32.load16_u (local.get $src)) (i32.const 16)))
				(local.set $src (i32.add (local.get $src) (i32.const 2)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 4)))
				(br_if $tail (i32.lt_u (local.get $src) (local.get $end))))))

	;; f16 -> f32, exact (bit for bit what torch gives, NaN payloads kept). For 4 halves h (as u32):
	;;   o = (h & 0x7fff) << 13 is an f32 whose exponent field is the f16 exponent e; as a float it is
	;;   2^(e-127) * 1.m for e > 0 and the f32 subnormal m * 2^-136 for e = 0, so o * 2^112 is exactly
	;;   the f16 value 2^(e-15) * 1.m, or m * 2^-24 for f16 subnormals (all exact, no rounding).
	;;   e = 31 (Inf/NaN) gives 2^16 * 1.m instead; OR-ing in the all-ones exponent fixes it (mantissa kept).
	;;   Finally the sign bit moves from bit 15 to bit 31.
	(func $cvt_f16_f32 (export "cvt_f16_f32") (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32) (local $h v128) (local $x i32) (local $xo i32)
		(local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 1))))
		(block $body_done
			(br_if $body_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(local.set $h (v128.load16x4_u (local.get $src)))
				(v128.store (local.get $dst)
					(v128.or
						(v128.or
							;; (h & 0x7fff) << 13, times 2^112 (0x77800000)
							(f32x4.mul
								(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13))
								(v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
							;; exponent all ones where the f16 exponent is 31
							(v128.and
								(i32x4.eq
									(v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
									(v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
								(v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
						;; sign
						(i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))
				(local.set $src (i32.add (local.get $src) (i32.const 8)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 16)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end)))))
		;; Tail: the same computation in scalar code.
		(local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 1))))
		(block $tail_done
			(br_if $tail_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $tail
				(local.set $x (i32.load16_u (local.get $src)))
				(local.set $xo
					(i32.reinterpret_f32
						(f32.mul
							(f32.reinterpret_i32 (i32.shl (i32.and (local.get $x) (i32.const 0x7fff)) (i32.const 13)))
							(f32.reinterpret_i32 (i32.const 0x77800000)))))
				(if (i32.eq (i32.and (local.get $x) (i32.const 0x7c00)) (i32.const 0x7c00))
					(then (local.set $xo (i32.or (local.get $xo) (i32.const 0x7f800000)))))
				(i32.store (local.get $dst)
					(i32.or (local.get $xo) (i32.shl (i32.and (local.get $x) (i32.const 0x8000)) (i32.const 16))))
				(local.set $src (i32.add (local.get $src) (i32.const 2)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 4)))
				(br_if $tail (i32.lt_u (local.get $src) (local.get $end))))))

	;; Plain f32 copy (n values; `src` may be unaligned). Not memory.copy: a call per row segment of
	;; 256 values is cheaper as a short SIMD loop than the bulk-memory runtime path.
	(func $copy_f32 (export "copy_f32") (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32)
		(local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
		(block $body_done
			(br_if $body_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(v128.store offset=0 (local.get $dst) (v128.load offset=0 (local.get $src)))
				(v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $src)))
				(local.set $src (i32.add (local.get $src) (i32.const 32)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 32)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end)))))
		(local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
		(block $tail_done
			(br_if $tail_done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $tail
				(i32.store (local.get $dst) (i32.load (local.get $src)))
				(local.set $src (i32.add (local.get $src) (i32.const 4)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 4)))
				(br_if $tail (i32.lt_u (local.get $src) (local.get $end))))))

	;; Stores n zero f32 values.
	(func $zero_f32 (param $dst i32) (param $n i32)
		(local $end i32)
		(local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
		(block $done
			(br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
			(loop $zero
				(i32.store (local.get $dst) (i32.const 0))
				(local.set $dst (i32.add (local.get $dst) (i32.const 4)))
				(br_if $zero (i32.lt_u (local.get $dst) (local.get $end))))))

	;; ------------------------------------------------------------------------------------------------
	;; Packing.

	;; The transpose step of pack_b: scratch rows r = 0..7 (1 KiB apart) of len4 floats (a multiple of
	;; 4) become len4 packed lines of 8 floats at d (32 bytes each). Its own function (like every hot
	;; loop here) so that V8 tiers it up to optimized code after a few calls; see the engine's warm-up.
	(func $transpose_strip (param $s i32) (param $d i32) (param $len4 i32)
		(local $s_end i32)
		(local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
		(local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128)
		(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
		;; Transpose: 4 k-values of each of the 8 scratch rows (v0..v7, one row each) become
		;; the 4 packed lines B[p][k+j][0..7] = (v0[j] .. v3[j], v4[j] .. v7[j]).
		;; A 4x4 transpose is two rounds of shuffles: interleave pairs of rows, then pairs of pairs.
		(local.set $s_end (i32.add (local.get $s) (i32.shl (local.get $len4) (i32.const 2))))
		(loop $transpose
			(local.set $v0 (v128.load offset=0 (local.get $s)))
			(local.set $v1 (v128.load offset=1024 (local.get $s)))
			(local.set $v2 (v128.load offset=2048 (local.get $s)))
			(local.set $v3 (v128.load offset=3072 (local.get $s)))
			(local.set $v4 (v128.load offset=4096 (local.get $s)))
			(local.set $v5 (v128.load offset=5120 (local.get $s)))
			(local.set $v6 (v128.load offset=6144 (local.get $s)))
			(local.set $v7 (v128.load offset=7168 (local.get $s)))
			;; rows 0..3: t0 = (v0[0] v1[0] v0[1] v1[1]), t1 = (v0[2] v1[2] v0[3] v1[3]), t2/t3 likewise for v2, v3
			(local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
			(local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
			(local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
			(local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
			;; (v0[j] v1[j] v2[j] v3[j]) for j = 0..3 into the low halves of the 4 lines
			(v128.store offset=0 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
			(v128.store offset=32 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
			(v128.store offset=64 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
			(v128.store offset=96 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
			;; rows 4..7 into the high halves
			(local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v4) (local.get $v5)))
			(local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v4) (local.get $v5)))
			(local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v6) (local.get $v7)))
			(local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v6) (local.get $v7)))
			(v128.store offset=16 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
			(v128.store offset=48 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
			(v128.store offset=80 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
			(v128.store offset=112 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
			(local.set $s (i32.add (local.get $s) (i32.const 16)))
			(local.set $d (i32.add (local.get $d) (i32.const 128)))
			(br_if $transpose (i32.lt_u (local.get $s) (local.get $s_end)))))

	;; Packs one piece of B (layout above): rows 8p..8p+7 of a weight of `rows` rows of `k` values of
	;; `dtype` (0 = f32, 1 = f16, 2 = bf16) at `src`, row-major, over the k block at k0, into the
	;; len4 * 32 bytes at `piece` (rows past `rows` and k past `k` are zero). Each row segment is
	;; converted to f32 into `scratch` (8 rows of 256 floats, 8 KiB, L1-resident) and zero-padded to a
	;; multiple of 4, then the strip is transposed 4x4 at a time into the piece, written sequentially.
	(func $pack_piece
		(param $src i32) (param $dtype i32) (param $rows i32) (param $k i32) (param $p i32) (param $k0 i32)
		(param $piece i32) (param $scratch i32)
		(local $len i32) (local $len4 i32) (local $r i32) (local $row i32) (local $srow i32) (local $bpe i32) (local $s i32)
		(local.set $bpe (select (i32.const 4) (i32.const 2) (i32.eqz (local.get $dtype))))
		;; len = min(256, k - k0); len4 = len rounded up to 4 = the length of this k block in B
		(local.set $len (i32.sub (local.get $k) (local.get $k0)))
		(if (i32.gt_u (local.get $len) (i32.const 256)) (then (local.set $len (i32.const 256))))
		(local.set $len4 (i32.and (i32.add (local.get $len) (i32.const 3)) (i32.const -4)))
		;; Convert the 8 row segments of this strip into scratch rows of 256 floats.
		(loop $convert
			(local.set $row (i32.add (i32.shl (local.get $p) (i32.const 3)) (local.get $r)))
			(local.set $srow (i32.add (local.get $scratch) (i32.shl (local.get $r) (i32.const 10))))
			(if (i32.lt_u (local.get $row) (local.get $rows))
				(then
					(local.set $s (i32.add (local.get $src)
						(i32.mul (i32.add (i32.mul (local.get $row) (local.get $k)) (local.get $k0)) (local.get $bpe))))
					(if (i32.eq (local.get $dtype) (i32.const 2))
						(then (call $cvt_bf16_f32 (local.get $s) (local.get $srow) (local.get $len)))
						(else
							(if (i32.eq (local.get $dtype) (i32.const 1))
								(then (call $cvt_f16_f32 (local.get $s) (local.get $srow) (local.get $len)))
								(else (call $copy_f32 (local.get $s) (local.get $srow) (local.get $len))))))
					(call $zero_f32
						(i32.add (local.get $srow) (i32.shl (local.get $len) (i32.const 2)))
						(i32.sub (local.get $len4) (local.get $len))))
				(else (call $zero_f32 (local.get $srow) (local.get $len4))))
			(local.set $r (i32.add (local.get $r) (i32.const 1)))
			(br_if $convert (i32.lt_u (local.get $r) (i32.const 8))))
		(call $transpose_strip (local.get $scratch) (local.get $piece) (local.get $len4)))

;; Reads one value per 64-byte line of the piece pack_piece would read for panel p at k0, so that
	;; those lines are on their way into the cache while the current piece is packed and multiplied
	;; (WebAssembly has no prefetch instruction). The segments are short (512 bytes of bf16 per row)
	;; and 8 rows apart, too short for the hardware prefetcher: without this, gemm_raw waited for
	;; memory on every piece. Returns the values OR-ed together, for the caller to keep, so that the
	;; loads cannot be dropped.
	(func $touch_piece (param $src i32) (param $dtype i32) (param $rows i32) (param $k i32) (param $p i32) (param $k0 i32) (result i32)
		(local $row i32) (local $row_end i32) (local $at i32) (local $end i32) (local $bpe i32) (local $len i32) (local $sink i32)
		(local.set $bpe (select (i32.const 4) (i32.const 2) (i32.eqz (local.get $dtype))))
		(local.set $len (i32.sub (local.get $k) (local.get $k0)))
		(if (i32.gt_u (local.get $len) (i32.const 256)) (then (local.set $len (i32.const 256))))
		(local.set $row (i32.shl (local.get $p) (i32.const 3)))
		(local.set $row_end (i32.add (local.get $row) (i32.const 8)))
		(if (i32.gt_u (local.get $row_end) (local.get $rows)) (then (local.set $row_end (local.get $rows))))
		(block $done
			(loop $rows
				(br_if $done (i32.ge_u (local.get $row) (local.get $row_end)))
				(local.set $at (i32.add (local.get $src)
					(i32.mul (i32.add (i32.mul (local.get $row) (local.get $k)) (local.get $k0)) (local.get $bpe))))
				(local.set $end (i32.add (local.get $at) (i32.mul (local.get $len) (local.get $bpe))))
				;; every 64 bytes from the segment's start, and its last byte (whose line may be one more)
				(loop $lines
					(local.set $sink (i32.or (local.get $sink) (i32.load8_u (local.get $at))))
					(local.set $at (i32.add (local.get $at) (i32.const 64)))
					(br_if $lines (i32.lt_u (local.get $at) (local.get $end))))
				(local.set $sink (i32.or (local.get $sink) (i32.load8_u (i32.sub (local.get $end) (i32.const 1)))))
				(local.set $row (i32.add (local.get $row) (i32.const 1)))
				(br $rows)))
		(local.get $sink))

	;; Packs panels [p0, p1) of a weight chunk: `rows` rows of `k` values of `dtype` at `src`, which
	;; are rows 8*pbase.. of the weight; so chunk panel p is panel pbase + p of the packed weight at dst
	;; (layout B above; `panels` in all). Strip by strip (8 rows x one k block, see pack_piece), each
	;; into its piece of B.
	(func $pack_b (export "pack_b")
		(param $src i32) (param $dtype i32) (param $rows i32) (param $k i32) (param $kp i32)
		(param $dst i32) (param $panels i32) (param $pbase i32) (param $p0 i32) (param $p1 i32) (param $scratch i32)
		(local $p i32) (local $k0 i32) (local $len4 i32)
		(local.set $p (local.get $p0))
		(block $panels_done
			(br_if $panels_done (i32.ge_u (local.get $p) (local.get $p1)))
			(loop $panels
				(local.set $k0 (i32.const 0))
				(loop $strips
					(local.set $len4 (i32.sub (local.get $kp) (local.get $k0)))
					(if (i32.gt_u (local.get $len4) (i32.const 256)) (then (local.set $len4 (i32.const 256))))
					;; piece (k block of k0, panel pbase + p) at dst + (k0*panels + (pbase + p)*len4)*32
					(call $pack_piece (local.get $src) (local.get $dtype) (local.get $rows) (local.get $k) (local.get $p) (local.get $k0)
						(i32.add (local.get $dst)
							(i32.shl
								(i32.add
									(i32.mul (local.get $k0) (local.get $panels))
									(i32.mul (i32.add (local.get $pbase) (local.get $p)) (local.get $len4)))
								(i32.const 5)))
						(local.get $scratch))
					(local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
					(br_if $strips (i32.lt_u (local.get $k0) (local.get $k))))
				(local.set $p (i32.add (local.get $p) (i32.const 1)))
				(br_if $panels (i32.lt_u (local.get $p) (local.get $p1))))))

	;; Packs X [m][k] (f32, row-major at src) into A (layout above) at dst. Full blocks of 4 rows are
	;; transposed 4x4 with SIMD; the k tail, the zero padding up to kp and a last partial block
	;; (rows past m are zero) take the scalar path.
	(func $pack_a (export "pack_a") (param $src i32) (param $m i32) (param $k i32) (param $kp i32) (param $dst i32)
		(local $full i32) (local $i i32) (local $s i32) (local $s_end i32) (local $ld i32) (local $d i32)
		(local $kk i32) (local $r i32) (local $row i32)
		(local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
		(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
		(local.set $ld (i32.shl (local.get $k) (i32.const 2)))
		(local.set $full (i32.shr_u (local.get $m) (i32.const 2)))
		(local.set $i (i32.const 0))
		(block $blocks_done
			(loop $blocks
				(br_if $blocks_done (i32.ge_u (local.get $i) (i32.shr_u (i32.add (local.get $m) (i32.const 3)) (i32.const 2))))
				(local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $i) (local.get $kp)) (i32.const 4))))
				(local.set $kk (i32.const 0))
				(if (i32.lt_u (local.get $i) (local.get $full))
					(then
						;; SIMD over k in steps of 4: 4 rows x 4 k in, 4 lines A[i][k+j][0..3] out.
						(local.set $s (i32.add (local.get $src) (i32.mul (i32.shl (local.get $i) (i32.const 2)) (local.get $ld))))
						(local.set $s_end (i32.add (local.get $s) (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2))))
						(block $simd_done
							(br_if $simd_done (i32.ge_u (local.get $s) (local.get $s_end)))
							(loop $simd
								(local.set $v0 (v128.load (local.get $s)))
								(local.set $v1 (v128.load (i32.add (local.get $s) (local.get $ld))))
								(local.set $v2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $ld) (i32.const 1)))))
								(local.set $v3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $ld) (i32.const 3)))))
								(local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
								(local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
								(local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
								(local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
								(v128.store offset=0 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
								(v128.store offset=16 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
								(v128.store offset=32 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
								(v128.store offset=48 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
								(local.set $s (i32.add (local.get $s) (i32.const 16)))
								(local.set $d (i32.add (local.get $d) (i32.const 64)))
								(br_if $simd (i32.lt_u (local.get $s) (local.get $s_end)))))
						(local.set $kk (i32.and (local.get $k) (i32.const -4)))))
				;; Scalar: k in [kk, kp) for all 4 rows; zero past k or past m.
				(block $scalar_done
					(loop $scalar
						(br_if $scalar_done (i32.ge_u (local.get $kk) (local.get $kp)))
						(local.set $r (i32.const 0))
						(loop $rows
							(local.set $row (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $r)))
							(f32.store (local.get $d)
								(if (result f32) (i32.and (i32.lt_u (local.get $row) (local.get $m)) (i32.lt_u (local.get $kk) (local.get $k)))
									(then (f32.load (i32.add (local.get $src)
										(i32.add (i32.mul (local.get $row) (local.get $ld)) (i32.shl (local.get $kk) (i32.const 2))))))
									(else (f32.const 0))))
							(local.set $d (i32.add (local.get $d) (i32.const 4)))
							(local.set $r (i32.add (local.get $r) (i32.const 1)))
							(br_if $rows (i32.lt_u (local.get $r) (i32.const 4))))
						(local.set $kk (i32.add (local.get $kk) (i32.const 1)))
						(br $scalar)))
				(local.set $i (i32.add (local.get $i) (i32.const 1)))
				(br $blocks))))

	;; ------------------------------------------------------------------------------------------------
	;; GEMM.

	;; Micro-kernel: one 4 x 8 tile of C, over kc >= 1 values of k.
	;;
	;; Register tiling: the tile lives in 8 v128 accumulators, $cRJ = C[row R][columns 4J..4J+3]
	;; (R = 0..3, J = 0..1). Each step of k loads the 8 packed weights B[k][0..7] as two vectors
	;; $b0/$b1 and, per row R, splats A[k][R] (v128.load32_splat, a single vbroadcastss) and does two
	;; multiply-adds. So a step is 2 + 4 loads for 8 FMAs; nothing but the loads touches memory, and
	;; the tile is loaded/stored only once per call. Why 4 x 8: x64 has 16 xmm registers, V8 keeps
	;; one as scratch, and its scheduler issues all loads of a step before the arithmetic, so
	;; accumulators + loaded values must fit in 15: 8 + 2 + 4 = 14 here (+1 temporary for the
	;; mul+add of the plain-SIMD build). 6 x 8, 5 x 8, 3 x 12 or unrolling k by 2 all spill
	;; (measured ~2x slower), and 8 accumulators are just enough to hide the FMA latency (4 cycles
	;; at 2 FMA per cycle).
	;;
	;; first = 0: C += A * B (the tile is loaded from C first).
	;; first = 1: C = A * B + bias, bias = 8 floats at `bias`, or zero when `bias` is 0.
	(func $kernel_4x8
		(param $a i32) (param $b i32) (param $c i32) (param $kc i32) (param $ldc i32)
		(param $first i32) (param $bias i32)
		(local $b_end i32) (local $b0 v128) (local $b1 v128) (local $av v128)
		(local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
		(local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
		(if (local.get $first)
			(then
				(if (local.get $bias)
					(then
						(local.set $c00 (v128.load offset=0 (local.get $bias)))
						(local.set $c01 (v128.load offset=16 (local.get $bias)))
						(local.set $c10 (local.get $c00)) (local.set $c11 (local.get $c01))
						(local.set $c20 (local.get $c00)) (local.set $c21 (local.get $c01))
						(local.set $c30 (local.get $c00)) (local.set $c31 (local.get $c01)))))
			(else
				(local.set $c00 (v128.load offset=0 (local.get $c)))
				(local.set $c01 (v128.load offset=16 (local.get $c)))
				(local.set $c10 (v128.load offset=0 (i32.add (local.get $c) (local.get $ldc))))
				(local.set $c11 (v128.load offset=16 (i32.add (local.get $c) (local.get $ldc))))
				(local.set $c20 (v128.load offset=0 (i32.add (local.get $c) (i32.shl (local.get $ldc) (i32.const 1)))))
				(local.set $c21 (v128.load offset=16 (i32.add (local.get $c) (i32.shl (local.get $ldc) (i32.const 1)))))
				(local.set $c30 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $ldc) (i32.const 3)))))
				(local.set $c31 (v128.load offset=16 (i32.add (local.get $c) (i32.mul (local.get $ldc) (i32.const 3)))))))
		(local.set $b_end (i32.add (local.get $b) (i32.shl (local.get $kc) (i32.const 5))))
		(loop $k
			(local.set $b0 (v128.load offset=0 (local.get $b)))
			(local.set $b1 (v128.load offset=16 (local.get $b)))
			(local.set $av (v128.load32_splat offset=0 (local.get $a)))
			(local.set $c00 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c00)))
			(local.set $c01 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c01)))
			(local.set $av (v128.load32_splat offset=4 (local.get $a)))
			(local.set $c10 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c10)))
			(local.set $c11 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c11)))
			(local.set $av (v128.load32_splat offset=8 (local.get $a)))
			(local.set $c20 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c20)))
			(local.set $c21 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c21)))
			(local.set $av (v128.load32_splat offset=12 (local.get $a)))
			(local.set $c30 (f32x4.relaxed_madd (local.get $av) (local.get $b0) (local.get $c30)))
			(local.set $c31 (f32x4.relaxed_madd (local.get $av) (local.get $b1) (local.get $c31)))
			(local.set $a (i32.add (local.get $a) (i32.const 16)))
			(local.set $b (i32.add (local.get $b) (i32.const 32)))
			(br_if $k (i32.lt_u (local.get $b) (local.get $b_end))))
		(v128.store offset=0 (local.get $c) (local.get $c00))
		(v128.store offset=16 (local.get $c) (local.get $c01))
		(local.set $c (i32.add (local.get $c) (local.get $ldc)))
		(v128.store offset=0 (local.get $c) (local.get $c10))
		(v128.store offset=16 (local.get $c) (local.get $c11))
		(local.set $c (i32.add (local.get $c) (local.get $ldc)))
		(v128.store offset=0 (local.get $c) (local.get $c20))
		(v128.store offset=16 (local.get $c) (local.get $c21))
		(local.set $c (i32.add (local.get $c) (local.get $ldc)))
		(v128.store offset=0 (local.get $c) (local.get $c30))
		(v128.store offset=16 (local.get $c) (local.get $c31)))

	;; C = A * B (+ bias) for the row blocks [rb0, rb1) (4 rows each) and panels [p0, p1) (8 columns
	;; each) of C: one worker's task. Loop nest, outermost first (GotoBLAS order):
	;;   row slabs of mcb blocks  - the A slab (4*mcb rows x 256 k, mcb * 4 KiB) stays in L2 while ...
	;;   k blocks of 256          - ... the pieces of B of this k block and task's panels, which are
	;;   panels p                   consecutive in memory, are walked one 256 x 8 piece (8 KiB) at a
	;;                              time, which stays in L1 while ...
	;;   row blocks rb            - ... the micro-kernel runs it against every row block of the slab.
	;; Each piece of B is read from memory once per row slab; C tiles are re-read once per k block.
	;; kp: K rounded up to 4; ldc: C row stride in bytes; panels: panels of the whole weight.
	(func $gemm (export "gemm")
		(param $a i32) (param $b i32) (param $c i32) (param $bias i32) (param $kp i32) (param $ldc i32)
		(param $panels i32) (param $rb0 i32) (param $rb1 i32) (param $p0 i32) (param $p1 i32) (param $mcb i32)
		(local $mb0 i32) (local $mb1 i32) (local $k0 i32) (local $kl i32) (local $p i32) (local $rb i32)
		(local $bp i32) (local $bias_p i32)
		(if (i32.or (i32.ge_u (local.get $rb0) (local.get $rb1)) (i32.ge_u (local.get $p0) (local.get $p1)))
			(then (return)))
		(local.set $mb0 (local.get $rb0))
		(loop $slabs
			(local.set $mb1 (i32.add (local.get $mb0) (local.get $mcb)))
			(if (i32.gt_u (local.get $mb1) (local.get $rb1)) (then (local.set $mb1 (local.get $rb1))))
			(local.set $k0 (i32.const 0))
			(loop $kblocks
				(local.set $kl (i32.sub (local.get $kp) (local.get $k0)))
				(if (i32.gt_u (local.get $kl) (i32.const 256)) (then (local.set $kl (i32.const 256))))
				(local.set $p (local.get $p0))
				(loop $panels
					(local.set $bp (i32.add (local.get $b)
						(i32.shl
							(i32.add (i32.mul (local.get $k0) (local.get $panels)) (i32.mul (local.get $p) (local.get $kl)))
							(i32.const 5))))
					(local.set $bias_p (select
						(i32.add (local.get $bias) (i32.shl (local.get $p) (i32.const 5)))
						(i32.const 0)
						(local.get $bias)))
					(local.set $rb (local.get $mb0))
					(loop $rows
						(call $kernel_4x8
							(i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $rb) (local.get $kp)) (local.get $k0)) (i32.const 4)))
							(local.get $bp)
							(i32.add (i32.add (local.get $c) (i32.mul (i32.shl (local.get $rb) (i32.const 2)) (local.get $ldc)))
								(i32.shl (local.get $p) (i32.const 5)))
							(local.get $kl)
							(local.get $ldc)
							(i32.eqz (local.get $k0))
							(local.get $bias_p))
						(local.set $rb (i32.add (local.get $rb) (i32.const 1)))
						(br_if $rows (i32.lt_u (local.get $rb) (local.get $mb1))))
					(local.set $p (i32.add (local.get $p) (i32.const 1)))
					(br_if $panels (i32.lt_u (local.get $p) (local.get $p1))))
				(local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
				(br_if $kblocks (i32.lt_u (local.get $k0) (local.get $kp))))
			(local.set $mb0 (local.get $mb1))
			(br_if $slabs (i32.lt_u (local.get $mb0) (local.get $rb1)))))

	;; gemm on a weight that was never packed: W row-major in its own dtype at `src` ([n][k], as read
	;; from the file), packed piece by piece as the loop nest reaches it: each piece of B (8 KiB, see
	;; pack_piece) goes into `piece` (this worker's, L1-resident) just before the micro-kernel runs it
	;; against every row block of the slab. The pieces, the loop order and so the sums are exactly
	;; gemm's on the packed weight; what is saved is the packing pass, which wrote 4 bytes per value
	;; to memory and read them back (for bf16, 3x the bytes of W), and the packed copy itself.
	;; Pieces are packed once per row slab (mcb row blocks), so this pays when M/4 is well above 1.
	;; `scratch`: 8 KiB for pack_piece; `piece`: 8 KiB.
	(func $gemm_raw (export "gemm_raw")
		(param $a i32) (param $src i32) (param $dtype i32) (param $n i32) (param $k i32) (param $c i32) (param $bias i32)
		(param $kp i32) (param $ldc i32) (param $rb0 i32) (param $rb1 i32) (param $p0 i32) (param $p1 i32) (param $mcb i32)
		(param $scratch i32) (param $piece i32)
		(local $mb0 i32) (local $mb1 i32) (local $k0 i32) (local $kl i32) (local $p i32) (local $rb i32) (local $bias_p i32)
		(local $sink i32)
		(if (i32.or (i32.ge_u (local.get $rb0) (local.get $rb1)) (i32.ge_u (local.get $p0) (local.get $p1)))
			(then (return)))
		(local.set $mb0 (local.get $rb0))
		(loop $slabs
			(local.set $mb1 (i32.add (local.get $mb0) (local.get $mcb)))
			(if (i32.gt_u (local.get $mb1) (local.get $rb1)) (then (local.set $mb1 (local.get $rb1))))
			(local.set $k0 (i32.const 0))
			(loop $kblocks
				(local.set $kl (i32.sub (local.get $kp) (local.get $k0)))
				(if (i32.gt_u (local.get $kl) (i32.const 256)) (then (local.set $kl (i32.const 256))))
				(local.set $p (local.get $p0))
				(loop $panels
					;; the next panel's piece starts coming from memory while this one is used
					(if (i32.lt_u (i32.add (local.get $p) (i32.const 1)) (local.get $p1))
						(then (local.set $sink (i32.or (local.get $sink)
							(call $touch_piece (local.get $src) (local.get $dtype) (local.get $n) (local.get $k)
								(i32.add (local.get $p) (i32.const 1)) (local.get $k0))))))
					(call $pack_piece (local.get $src) (local.get $dtype) (local.get $n) (local.get $k) (local.get $p) (local.get $k0)
						(local.get $piece) (local.get $scratch))
					(local.set $bias_p (select
						(i32.add (local.get $bias) (i32.shl (local.get $p) (i32.const 5)))
						(i32.const 0)
						(local.get $bias)))
					(local.set $rb (local.get $mb0))
					(loop $rows
						(call $kernel_4x8
							(i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $rb) (local.get $kp)) (local.get $k0)) (i32.const 4)))
							(local.get $piece)
							(i32.add (i32.add (local.get $c) (i32.mul (i32.shl (local.get $rb) (i32.const 2)) (local.get $ldc)))
								(i32.shl (local.get $p) (i32.const 5)))
							(local.get $kl)
							(local.get $ldc)
							(i32.eqz (local.get $k0))
							(local.get $bias_p))
						(local.set $rb (i32.add (local.get $rb) (i32.const 1)))
						(br_if $rows (i32.lt_u (local.get $rb) (local.get $mb1))))
					(local.set $p (i32.add (local.get $p) (i32.const 1)))
					(br_if $panels (i32.lt_u (local.get $p) (local.get $p1))))
				(local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
				(br_if $kblocks (i32.lt_u (local.get $k0) (local.get $kp))))
			(local.set $mb0 (local.get $mb1))
			(br_if $slabs (i32.lt_u (local.get $mb0) (local.get $rb1))))
		;; the touched values go nowhere but into the scratch (see touch_piece)
		(i32.store8 (local.get $scratch) (local.get $sink)))

	;; ------------------------------------------------------------------------------------------------
	;; The LoRA fold: out = w + scale * d for the delta d = B·A of a block of rows (C of a gemm), then
	;; rounded to the output dtype. Each value is what JavaScript gives for `w + scale * d` stored into
	;; a Float32Array: w and d widened to f64, an f64 multiply and an f64 add (WebAssembly never fuses
	;; them into an FMA), one rounding to f32 (f32.demote, nearest even); for bf16 output that f32 is
	;; then rounded like bf16BitsFromF32Bits in float-kernels.ts. So the fused path writes the bits the
	;; JavaScript path (linear, applyDelta, f32ToBf16) wrote, without the f32 rows leaving this memory.

	;; 4 lanes: f32(f64(w) + scale * f64(c)); scale holds the f64 scale in both lanes.
	(func $fold4 (param $w v128) (param $c v128) (param $scale v128) (result v128)
		(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
			(f32x4.demote_f64x2_zero
				(f64x2.add (f64x2.promote_low_f32x4 (local.get $w))
					(f64x2.mul (local.get $scale) (f64x2.promote_low_f32x4 (local.get $c)))))
			;; lanes 2 and 3 moved down to be widened
			(f32x4.demote_f64x2_zero
				(f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $w) (local.get $w)))
					(f64x2.mul (local.get $scale) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $c) (local.get $c))))))))

	;; 4 f32 (as bits) -> their bf16 bits in the low half of each lane, round to nearest even: adding
	;; 0x7fff plus the lowest kept bit carries into the kept bits exactly when the dropped half is more
	;; than half an ulp, or exactly half with an odd kept bit (a carry may reach Inf, as it should).
	;; NaN keeps its sign and top payload bits with the quiet bit set, so it never becomes Inf.
	(func $bf16_bits4 (param $u v128) (result v128)
		(v128.bitselect
			(v128.or (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
			(i32x4.shr_u
				(i32x4.add
					(i32x4.add (local.get $u) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
					(v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
				(i32.const 16))
			(i32x4.gt_s
				(v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
				(v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))

	;; Rows r0..r1-1 of the fold. w: [rows][cols] of wdtype (0 f32, 2 bf16) from `w`; c: rows of ldc bytes
	;; (f32, the first `cols` used) from `c`; out: [rows][cols] of odtype (0 f32, 2 bf16) from `out`;
	;; the scale is the f64 at scale_at. Four values at a time; a row's last cols mod 4 values one at a
	;; time through the same 4-lane code.
	(func $lora_fold (export "lora_fold")
		(param $w i32) (param $wdtype i32) (param $c i32) (param $ldc i32) (param $cols i32)
		(param $r0 i32) (param $r1 i32) (param $scale_at i32) (param $out i32) (param $odtype i32)
		(local $scale v128) (local $wsize i32) (local $osize i32) (local $end4 i32) (local $r i32) (local $j i32)
		(local $wp i32) (local $cp i32) (local $op i32) (local $x v128) (local $v v128)
		(local.set $scale (f64x2.splat (f64.load (local.get $scale_at))))
		(local.set $wsize (select (i32.const 2) (i32.const 4) (i32.eq (local.get $wdtype) (i32.const 2))))
		(local.set $osize (select (i32.const 2) (i32.const 4) (i32.eq (local.get $odtype) (i32.const 2))))
		(local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
		(local.set $r (local.get $r0))
		(block $done
			(loop $rows
				(br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
				(local.set $wp (i32.add (local.get $w) (i32.mul (i32.mul (local.get $r) (local.get $cols)) (local.get $wsize))))
				(local.set $op (i32.add (local.get $out) (i32.mul (i32.mul (local.get $r) (local.get $cols)) (local.get $osize))))
				(local.set $cp (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))))
				(local.set $j (i32.const 0))
				(block $body_done
					(loop $body
						(br_if $body_done (i32.ge_u (local.get $j) (local.get $end4)))
						(local.set $x
							(if (result v128) (i32.eq (local.get $wdtype) (i32.const 2))
								(then (i32x4.shl (v128.load16x4_u (local.get $wp)) (i32.const 16)))
								(else (v128.load (local.get $wp)))))
						(local.set $v (call $fold4 (local.get $x) (v128.load (local.get $cp)) (local.get $scale)))
						(if (i32.eq (local.get $odtype) (i32.const 2))
							(then
								(local.set $v (call $bf16_bits4 (local.get $v)))
								;; 4 lanes of at most 0xffff narrow without saturating; the low 8 bytes are the 4 bf16.
								(i64.store (local.get $op) (i64x2.extract_lane 0 (i16x8.narrow_i32x4_u (local.get $v) (local.get $v)))))
							(else (v128.store (local.get $op) (local.get $v))))
						(local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $wsize) (i32.const 2))))
						(local.set $op (i32.add (local.get $op) (i32.shl (local.get $osize) (i32.const 2))))
						(local.set $cp (i32.add (local.get $cp) (i32.const 16)))
						(local.set $j (i32.add (local.get $j) (i32.const 4)))
						(br $body)))
				(block $tail_done
					(loop $tail
						(br_if $tail_done (i32.ge_u (local.get $j) (local.get $cols)))
						(local.set $x
							(if (result v128) (i32.eq (local.get $wdtype) (i32.const 2))
								(then (i32x4.splat (i32.shl (i32.load16_u (local.get $wp)) (i32.const 16))))
								(else (v128.load32_splat (local.get $wp)))))
						(local.set $v (call $fold4 (local.get $x) (v128.load32_splat (local.get $cp)) (local.get $scale)))
						(if (i32.eq (local.get $odtype) (i32.const 2))
							(then (i32.store16 (local.get $op) (i32x4.extract_lane 0 (call $bf16_bits4 (local.get $v)))))
							(else (f32.store (local.get $op) (f32x4.extract_lane 0 (local.get $v)))))
						(local.set $wp (i32.add (local.get $wp) (local.get $wsize)))
						(local.set $op (i32.add (local.get $op) (local.get $osize)))
						(local.set $cp (i32.add (local.get $cp) (i32.const 4)))
						(local.set $j (i32.add (local.get $j) (i32.const 1)))
						(br $tail)))
				(local.set $r (i32.add (local.get $r) (i32.const 1)))
				(br $rows))))

	;; ------------------------------------------------------------------------------------------------
	;; The gated MLP's activation.

	;; silu(g) = g / (1 + exp(-g)) for 4 values, in f32 like torch's SiLU. exp is Cephes' expf:
	;; exp(x) = 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2 (ln 2 in two parts, the first with
	;; few bits so that n * C1 is exact), e^r by a degree-7 polynomial on |r| <= ln2/2; about 1 ulp.
	;; x is clamped to [-87, 88.72] and 2^n applied as 2^(n-1) * 2, so that n = 128 (x near 88.72) still
	;; has a normal scale; below -87 (where n = -126 may give a zero scale) e^x < 2e-38 vanishes in
	;; 1 + e^x anyway; x > 88.72 (f32 exp overflows) gives infinity, so g / (1 + exp(-g)) is -0 there,
	;; as in torch. NaN stays NaN.
	(func $silu4 (param $g v128) (result v128)
		(local $x v128) (local $n v128) (local $r v128) (local $p v128)
		(local.set $x (f32x4.neg (local.get $g)))
		(local.set $n (f32x4.min (f32x4.max (local.get $x) (v128.const f32x4 -87 -87 -87 -87))
			(v128.const f32x4 88.72283935546875 88.72283935546875 88.72283935546875 88.72283935546875)))
		(local.set $r (local.get $n))
		(local.set $n (f32x4.nearest (f32x4.mul (local.get $n) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
		(local.set $r (f32x4.relaxed_madd (local.get $n) (v128.const f32x4 -0.693359375 -0.693359375 -0.693359375 -0.693359375) (local.get $r)))
		(local.set $r (f32x4.relaxed_madd (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4) (local.get $r)))
		(local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
		(local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
		(local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
		(local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
		(local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
		(local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
		;; e^r = p r^2 + r + 1
		(local.set $p (f32x4.add
			(f32x4.relaxed_madd (local.get $p) (f32x4.mul (local.get $r) (local.get $r)) (local.get $r))
			(v128.const f32x4 1 1 1 1)))
		;; times 2^(n-1) (exponent field (n - 1 + 127) << 23), times 2
		(local.set $p (f32x4.mul (local.get $p)
			(i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 126 126 126 126)) (i32.const 23))))
		(local.set $p (f32x4.add (local.get $p) (local.get $p)))
		(local.set $p (v128.bitselect
			(v128.const f32x4 inf inf inf inf)
			(local.get $p)
			(f32x4.gt (local.get $x) (v128.const f32x4 88.72283935546875 88.72283935546875 88.72283935546875 88.72283935546875))))
		(f32x4.div (local.get $g) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $p))))

	;; act[r][i] = silu(gate[r][i]) * up[r][i] for `rows` rows of [gate | up] (2 * inter f32 each) at
	;; src into rows of inter f32 at dst (unaligned is fine). The last inter mod 4 values of a row go
	;; one at a time through the same 4-lane code.
	(func $silu_gate (export "silu_gate") (param $src i32) (param $dst i32) (param $rows i32) (param $inter i32)
		(local $g i32) (local $u i32) (local $end i32) (local $row_end i32) (local $r i32)
		(local.set $g (local.get $src))
		(block $done
			(loop $rows
				(br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
				(local.set $u (i32.add (local.get $g) (i32.shl (local.get $inter) (i32.const 2))))
				(local.set $row_end (local.get $u))
				(local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $inter) (i32.const -4)) (i32.const 2))))
				(block $body_done
					(br_if $body_done (i32.ge_u (local.get $g) (local.get $end)))
					(loop $body
						(v128.store (local.get $dst) (f32x4.mul (call $silu4 (v128.load (local.get $g))) (v128.load (local.get $u))))
						(local.set $g (i32.add (local.get $g) (i32.const 16)))
						(local.set $u (i32.add (local.get $u) (i32.const 16)))
						(local.set $dst (i32.add (local.get $dst) (i32.const 16)))
						(br_if $body (i32.lt_u (local.get $g) (local.get $end)))))
				(block $tail_done
					(br_if $tail_done (i32.ge_u (local.get $g) (local.get $row_end)))
					(loop $tail
						(f32.store (local.get $dst) (f32x4.extract_lane 0
							(f32x4.mul (call $silu4 (f32x4.splat (f32.load (local.get $g)))) (f32x4.splat (f32.load (local.get $u))))))
						(local.set $g (i32.add (local.get $g) (i32.const 4)))
						(local.set $u (i32.add (local.get $u) (i32.const 4)))
						(local.set $dst (i32.add (local.get $dst) (i32.const 4)))
						(br_if $tail (i32.lt_u (local.get $g) (local.get $row_end)))))
				;; the next row's gate starts after this row's up
				(local.set $g (local.get $u))
				(local.set $r (i32.add (local.get $r) (i32.const 1)))
				(br $rows))))

	;; ------------------------------------------------------------------------------------------------
	;; Narrowing to f16 / bf16 (GGUF tensor data, src/gguf/): from f32, f16 or bf16, rounded to nearest
	;; even as torch and numpy do (and as f16BitsFromF32Bits / bf16BitsFromF32Bits in
	;; src/safetensors/float-kernels.ts, the plain reference the tests compare these with bit for bit).
	;; dtype codes as pack_b's: 0 = f32, 1 = f16, 2 = bf16.
	;;
	;; One loop per (source, target) pair, so no dtype test runs per value. bf16 -> f16 and f16 -> bf16
	;; (16 bytes in, 16 out per iteration) work on 8 16-bit lanes at once for the common (normal) values
	;; and use 2 x 4 f32 lanes only for the few ops the subnormal results need.

	;; The first n - n mod 8 of n values of `sdtype` (0, 1, 2) at src -> values of `ddtype` (1 = f16,
	;; 2 = bf16) at dst; the caller converts the last n mod 8 (src/kernels/encode-range.ts). src and dst
	;; may be unaligned and must not overlap. Picks the loop once per call.
	(func $cvt_narrow (export "cvt_narrow") (param $src i32) (param $sdtype i32) (param $dst i32) (param $ddtype i32) (param $n i32)
		(local.set $n (i32.and (local.get $n) (i32.const -8)))
		(if (i32.eq (local.get $sdtype) (local.get $ddtype))
			(then (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $n) (i32.const 1))) (return)))
		(if (i32.eqz (local.get $sdtype))
			(then
				(if (i32.eq (local.get $ddtype) (i32.const 1))
					(then (call $cvt_f32_f16 (local.get $src) (local.get $dst) (local.get $n)))
					(else (call $cvt_f32_bf16 (local.get $src) (local.get $dst) (local.get $n))))
				(return)))
		(if (i32.eq (local.get $sdtype) (i32.const 2))
			(then (call $cvt_bf16_f16 (local.get $src) (local.get $dst) (local.get $n)))
			(else (call $cvt_f16_bf16 (local.get $src) (local.get $dst) (local.get $n)))))

	;; bf16 -> f16, 8 values per iteration. With ha = the bf16 bits without the sign (x's f32 bits are
	;; ha << 16: their low 16 bits are zero, so no rounding happens outside the subnormal range):
	;;   2^-14 <= |x| < 65536 (0x3880 <= ha < 0x4780): exact, the exponent rebiased (-112) and the 7
	;;       mantissa bits moved up 3: (ha - 0x3800) << 3, all in 16-bit lanes;
	;;   |x| < 2^-14: an f16 subnormal or zero, rounded to nearest even: |x| + 0.5 in f32 rounds |x| to a
	;;       multiple of 2^-24 (f16's subnormal step), its bits minus 0.5's are the f16 bits (as f32 -> f16);
	;;   |x| >= 65536 (rounds past 65504): Inf; a NaN (ha > 0x7f80): quiet, its top payload bits kept
	;;       (0x7e00 | the 7 bf16 mantissa bits << 3, as f32 -> f16 keeps bits 13..22).
	;; Then the sign. Same bits as the f32 path (bf16 -> f32 -> f16) for all 65536 inputs (tested).
	(func $cvt_bf16_f16 (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32) (local $h v128) (local $ha v128) (local $r v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(local.set $h (v128.load (local.get $src)))
				(local.set $ha (v128.and (local.get $h) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff)))
				;; normal f16, or the subnormal result (4 + 4 f32 lanes narrowed back to 8 u16; lanes that
				;; are not subnormal give garbage here, never selected). The f32 lanes are ha << 16, made by
				;; interleaving zeros with ha (one punpcklwd / punpckhwd each).
				(local.set $r (v128.bitselect
					(i16x8.shl (i16x8.sub (local.get $ha) (v128.const i16x8 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800)) (i32.const 3))
					(i16x8.narrow_i32x4_u
						(i32x4.sub
							(f32x4.add (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (v128.const i32x4 0 0 0 0) (local.get $ha)) (v128.const f32x4 0.5 0.5 0.5 0.5))
							(v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
						(i32x4.sub
							(f32x4.add (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (v128.const i32x4 0 0 0 0) (local.get $ha)) (v128.const f32x4 0.5 0.5 0.5 0.5))
							(v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
					;; ha >= 0x3880 (ha <= 0x7fff: signed compares are exact, and cheaper on x64 than unsigned)
					(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x387f 0x387f 0x387f 0x387f 0x387f 0x387f 0x387f 0x387f))))
				;; overflow and Inf
				(local.set $r (v128.bitselect
					(v128.const i16x8 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00)
					(local.get $r)
					(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x477f 0x477f 0x477f 0x477f 0x477f 0x477f 0x477f 0x477f))))
				;; NaN
				(local.set $r (v128.bitselect
					(v128.or
						(v128.const i16x8 0x7e00 0x7e00 0x7e00 0x7e00 0x7e00 0x7e00 0x7e00 0x7e00)
						(v128.and (i16x8.shl (local.get $ha) (i32.const 3)) (v128.const i16x8 0x3ff 0x3ff 0x3ff 0x3ff 0x3ff 0x3ff 0x3ff 0x3ff)))
					(local.get $r)
					(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80))))
				(v128.store (local.get $dst)
					(v128.or (local.get $r) (v128.and (local.get $h) (v128.const i16x8 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000))))
				(local.set $src (i32.add (local.get $src) (i32.const 16)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 16)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end))))))

	;; f16 -> bf16, 8 values per iteration. With ha = the f16 bits without the sign (exponent e, 10
	;; mantissa bits m; x's f32 bits are (e + 112) << 23 | m << 13 for a normal x):
	;;   normal (0x0400 <= ha < 0x7c00): bf16 keeps the top 7 of m, rounded to nearest even as the f32
	;;       path does (adding 0x7fff plus the lowest kept bit to the f32 bits): here 3 plus the lowest
	;;       kept bit (bit 3) added to ha, shifted down 3, the exponent rebiased (+112 << 7); a carry out
	;;       of the mantissa raises the exponent, as it should. All in 16-bit lanes.
	;;   subnormal or zero (ha < 0x0400): m * 2^-24, which may have more significant bits than bf16's 8:
	;;       the exact f32 (ha << 13 as a float is m * 2^-136, times 2^112) rounded to bf16 in f32 lanes;
	;;   Inf (ha = 0x7c00): 0x7f80; NaN: quiet (0x7fc0), the top 7 payload bits kept.
	;; Then the sign. Same bits as f16 -> f32 -> bf16 for all 65536 inputs (tested).
	(func $cvt_f16_bf16 (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32) (local $h v128) (local $ha v128) (local $r v128) (local $lo v128) (local $hi v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(local.set $h (v128.load (local.get $src)))
				(local.set $ha (v128.and (local.get $h) (v128.const i16x8 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff 0x7fff)))
				;; the subnormal results: f32 bits of m * 2^-24, then bf16 rounding (see $bf16_bits4; no NaN here)
				(local.set $lo (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $ha)) (i32.const 13)))
				(local.set $lo (f32x4.mul (local.get $lo) (v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000)))
				(local.set $lo (i32x4.shr_u
					(i32x4.add
						(i32x4.add (local.get $lo) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
						(v128.and (i32x4.shr_u (local.get $lo) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
					(i32.const 16)))
				(local.set $hi (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $ha)) (i32.const 13)))
				(local.set $hi (f32x4.mul (local.get $hi) (v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000)))
				(local.set $hi (i32x4.shr_u
					(i32x4.add
						(i32x4.add (local.get $hi) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
						(v128.and (i32x4.shr_u (local.get $hi) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
					(i32.const 16)))
				(local.set $r (v128.bitselect
					;; normal (ha + 3 + odd <= 0x7c03 for a normal ha: no 16-bit overflow)
					(i16x8.add
						(i16x8.shr_u
							(i16x8.add
								(i16x8.add (local.get $ha) (v128.const i16x8 3 3 3 3 3 3 3 3))
								(v128.and (i16x8.shr_u (local.get $ha) (i32.const 3)) (v128.const i16x8 1 1 1 1 1 1 1 1)))
							(i32.const 3))
						(v128.const i16x8 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800 0x3800))
					(i16x8.narrow_i32x4_u (local.get $lo) (local.get $hi))
					(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x03ff 0x03ff 0x03ff 0x03ff 0x03ff 0x03ff 0x03ff 0x03ff))))
				;; Inf and NaN (ha >= 0x7c00; NaN: ha > 0x7c00)
				(local.set $r (v128.bitselect
					(v128.bitselect
						(v128.or
							(v128.const i16x8 0x7fc0 0x7fc0 0x7fc0 0x7fc0 0x7fc0 0x7fc0 0x7fc0 0x7fc0)
							(v128.and (i16x8.shr_u (local.get $ha) (i32.const 3)) (v128.const i16x8 0x7f 0x7f 0x7f 0x7f 0x7f 0x7f 0x7f 0x7f)))
						(v128.const i16x8 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80 0x7f80)
						(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00 0x7c00)))
					(local.get $r)
					(i16x8.gt_s (local.get $ha) (v128.const i16x8 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff 0x7bff))))
				(v128.store (local.get $dst)
					(v128.or (local.get $r) (v128.and (local.get $h) (v128.const i16x8 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000 0x8000))))
				(local.set $src (i32.add (local.get $src) (i32.const 16)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 16)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end))))))

	;; f32 -> f16, 4 values per iteration (everything inline: a call per 4 values, to a shared
	;; $f16_bits4, was slower than the former shared loop with the dtype tests inside). u: the f32 bits,
	;; a = |x| bits; the cases, chosen without branches:
	;;   a >= 2^-14 (0x38800000): a normal f16: rebias the exponent (-112 << 23), add 0xfff plus the
	;;       lowest kept bit (round half to even), keep bits 13 and up (a carry may reach Inf);
	;;   a <  2^-14: |x| + 0.5 in f32 rounds |x| to a multiple of 2^-24 (nearest even: exactly f16's
	;;       subnormal step), and its bits minus those of 0.5 are the f16 bits (0 below 2^-25);
	;;   a >= 65520 (0x477ff000, rounds past 65504): Inf; a NaN: quiet, top payload bits kept.
	;; (a <= 0x7fffffff: signed compares are exact, and cheaper on x64 than unsigned ones.)
	(func $cvt_f32_f16 (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32) (local $u v128) (local $a v128) (local $r v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(local.set $u (v128.load (local.get $src)))
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
				(local.set $r (v128.or (local.get $r)
					(v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
				;; the low halves of the 4 lanes (each <= 0xffff: the unsigned narrowing keeps them)
				(v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r) (local.get $r)))
				(local.set $src (i32.add (local.get $src) (i32.const 16)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 8)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end))))))

	;; f32 -> bf16, 4 values per iteration, $bf16_bits4 inline (as in $cvt_f32_f16: no call per 4 values).
	(func $cvt_f32_bf16 (param $src i32) (param $dst i32) (param $n i32)
		(local $end i32) (local $u v128) (local $r v128)
		(local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
		(block $done
			(br_if $done (i32.ge_u (local.get $src) (local.get $end)))
			(loop $body
				(local.set $u (v128.load (local.get $src)))
				(local.set $r (v128.bitselect
					(v128.or (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
					(i32x4.shr_u
						(i32x4.add
							(i32x4.add (local.get $u) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
							(v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
						(i32.const 16))
					(i32x4.gt_s
						(v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
						(v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
				(v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r) (local.get $r)))
				(local.set $src (i32.add (local.get $src) (i32.const 16)))
				(local.set $dst (i32.add (local.get $dst) (i32.const 8)))
				(br_if $body (i32.lt_u (local.get $src) (local.get $end))))))
)
