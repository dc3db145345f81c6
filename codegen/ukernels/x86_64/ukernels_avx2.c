/*===- ukernels_avx2.c - x86-64 microkernels: AVX2 + FMA + F16C ------------===*
 *
 * Compiled with -mavx2 -mfma -mf16c. Accelerates the activation quantizers, the
 * products of every weight format, the KV-cache append and attention over the
 * f16 cache; the rest comes from the generic C (included at the end, see
 * generic/ukernels_generic.inc). Every entry point is guarded by
 * MILM_UK_HAVE_<name>, so ukernels_avx512.c can define its own and include this
 * file for the others.
 *
 * Products: each weight row is read once per group of up to four tokens; the
 * group's activations stay in L1. Integer dot products use vpmaddubsw (u8 x i8
 * -> pairs of i16) followed by vpmaddwd (-> i32): signed x signed goes through
 * the sign trick (|w| x sign(w) * a), which is exact because neither side is ever
 * -128 (activations are clamped to [-127, 127]; q4_0's q - 8 is in [-8, 7];
 * q8_0 weights from any quantizer are in [-127, 127]).
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

#include <immintrin.h>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "ukernels_avx2.c needs -mavx2 -mfma -mf16c"
#endif

#define UK_AI static inline __attribute__((always_inline))

/*---- small helpers ---------------------------------------------------------*/

/* Software prefetch of the weight stream: `lines` cache lines starting `ahead`
 * bytes past p. The hardware prefetcher alone left the mat-vec kernels at
 * 60-65% of a plain read's bandwidth on a cold matrix (bench/ukernels). */
#ifndef UK_PREFETCH_AHEAD
#define UK_PREFETCH_AHEAD 1024
#endif
UK_AI void avx_prefetch(const void *p, int lines) {
  for (int i = 0; i < lines; ++i)
    _mm_prefetch((const char *)p + UK_PREFETCH_AHEAD + 64 * i, _MM_HINT_T0);
}
/* The big packed blocks (q4_kx8, q6_kx8) at one token: lines [first, first +
 * n) of the `lines`-line block at p, called a few lines at a time through the
 * current block's work with p two blocks ahead. Issued in one burst at the
 * start of each block, one block ahead (as the prompt's token tiles still do),
 * the prefetches left a one-token product's loads waiting on memory with
 * little else in flight: decode of a 1.3B Q4_K_M model went from 21.9 to 25.2
 * tokens/s (bench/ab-run.sh, 7 rounds). */
#define UK_X8_AHEAD 2
UK_AI void avx_prefetch_part(const void *p, int first, int n, int lines) {
  for (int i = first; i < first + n; ++i)
    if (i < lines) /* (one loop exit: `&& i < lines` made a 1.3B prompt 24% slower) */
      _mm_prefetch((const char *)p + 64 * i, _MM_HINT_T0);
}

UK_AI float avx_hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

UK_AI int32_t avx_hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

UK_AI float avx_hmax_ps(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

UK_AI float avx_fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Eight i32 sums of products of 32 signed bytes (w never -128). */
UK_AI __m256i avx_dot_i8(__m256i w, __m256i a) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 16 packed nibbles -> 32 bytes: low nibbles in bytes 0..15, high in 16..31. */
UK_AI __m256i avx_unpack_nibbles(const uint8_t *p) {
  const __m128i raw = _mm_loadu_si128((const __m128i *)p);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/*---- activation quantization -------------------------------------------------*/

/* Quantizes 32 floats with inverse scale id into 32 bytes (clamped RNE), and
 * returns the four i32 vectors' sum in *sum. Same values as the generic code. */
UK_AI __m256i avx_quantize32(const float *x, __m256 id, __m256i *sum32) {
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  __m256i i[4];
  for (int k = 0; k < 4; ++k) {
    __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    i[k] = _mm256_cvtps_epi32(v);
  }
  *sum32 = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
  const __m256i p01 = _mm256_packs_epi32(i[0], i[1]);
  const __m256i p23 = _mm256_packs_epi32(i[2], i[3]);
  const __m256i b = _mm256_packs_epi16(p01, p23);
  /* packs work per 128-bit lane: put the dwords back in order. */
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

UK_AI float avx_absmax(const float *x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8)
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
  return avx_hmax_ps(m);
}

#ifndef MILM_UK_HAVE_quantize_q8_32
#define MILM_UK_HAVE_quantize_q8_32 1
void MILM_UK_FN(quantize_q8_32)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq) {
  milm_uk_block_q8_32 *b = (milm_uk_block_q8_32 *)xq;
  const int64_t nb = K / UK_QK;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < nb; ++i, ++b) {
      const float *xb = x + t * ldx + i * UK_QK;
      const float amax = avx_absmax(xb, 32);
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      __m256i s;
      _mm256_storeu_si256((__m256i *)b->qs, avx_quantize32(xb, _mm256_set1_ps(id), &s));
      b->d = d;
      b->sum = avx_hsum_epi32(s);
    }
}
#endif

#ifndef MILM_UK_HAVE_quantize_q8_k
#define MILM_UK_HAVE_quantize_q8_k 1
void MILM_UK_FN(quantize_q8_k)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq) {
  milm_uk_block_q8_k *b = (milm_uk_block_q8_k *)xq;
  const int64_t nb = K / UK_QK_K;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < nb; ++i, ++b) {
      const float *xb = x + t * ldx + i * UK_QK_K;
      const float amax = avx_absmax(xb, 256);
      const float d = amax / 127.0f;
      const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      for (int c = 0; c < 8; ++c) {
        __m256i s;
        const __m256i q = avx_quantize32(xb + 32 * c, id, &s);
        _mm256_storeu_si256((__m256i *)(b->qs + 32 * c), q);
        /* bsums of the two 16-value halves: widen each half to i16 and add up. */
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q, 1));
        b->bsums[2 * c] = (int16_t)avx_hsum_epi32(_mm256_madd_epi16(w0, _mm256_set1_epi16(1)));
        b->bsums[2 * c + 1] = (int16_t)avx_hsum_epi32(_mm256_madd_epi16(w1, _mm256_set1_epi16(1)));
      }
      b->d = d;
    }
}
#endif

/*---- 32-value formats: q4_0 and q8_0 --------------------------------------------*/

/* Rows [o_begin, o_end) for NT (1..4) tokens starting at token t0. The weight
 * block is unpacked once and used for all NT tokens; two blocks per iteration
 * give the FMA chains room. LOADW(blk) yields the 32 signed weight bytes. */
#define UK_AVX2_Q32_KERNEL(NAME, WBLK, LOADW)                                          \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_32 *X, int64_t nb, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    __m256 acc0[4], acc1[4];                                                           \
    for (int u = 0; u < NT; ++u)                                                       \
      acc0[u] = acc1[u] = _mm256_setzero_ps();                                         \
    int64_t b = 0;                                                                     \
    for (; b + 2 <= nb; b += 2) {                                                      \
      avx_prefetch(wr + b, (int)((2 * sizeof(WBLK) + 63) / 64));                       \
      const __m256i w0 = LOADW(wr + b), w1 = LOADW(wr + b + 1);                        \
      const float d0 = avx_fp16(wr[b].d), d1 = avx_fp16(wr[b + 1].d);                  \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        const __m256i p0 = avx_dot_i8(w0, _mm256_loadu_si256((const __m256i *)xb[0].qs)); \
        const __m256i p1 = avx_dot_i8(w1, _mm256_loadu_si256((const __m256i *)xb[1].qs)); \
        acc0[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d0 * xb[0].d), acc0[u]); \
        acc1[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(d1 * xb[1].d), acc1[u]); \
      }                                                                                \
    }                                                                                  \
    for (; b < nb; ++b) {                                                              \
      const __m256i w0 = LOADW(wr + b);                                                \
      const float d0 = avx_fp16(wr[b].d);                                              \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        const __m256i p0 = avx_dot_i8(w0, _mm256_loadu_si256((const __m256i *)xb[0].qs)); \
        acc0[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d0 * xb[0].d), acc0[u]); \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = avx_hsum_ps(_mm256_add_ps(acc0[u], acc1[u]));            \
  }

UK_AI __m256i avx_load_q4_0(const uk_block_q4_0 *b) {
  return _mm256_sub_epi8(avx_unpack_nibbles(b->qs), _mm256_set1_epi8(8));
}
UK_AI __m256i avx_load_q8_0(const uk_block_q8_0 *b) {
  return _mm256_loadu_si256((const __m256i *)b->qs);
}
UK_AVX2_Q32_KERNEL(avx_rows_q4_0, uk_block_q4_0, avx_load_q4_0)
UK_AVX2_Q32_KERNEL(avx_rows_q8_0, uk_block_q8_0, avx_load_q8_0)

/* The token loop shared by every format: tokens [T0, T1) in groups of four,
 * then the rest. */
#define UK_AVX2_TOKEN_LOOP(KERNEL, WR, X, NB, Y, LDY, T0, T1, O)                       \
  do {                                                                                 \
    int64_t t0_ = (T0);                                                                \
    for (; t0_ + 4 <= (T1); t0_ += 4)                                                  \
      KERNEL(WR, X, NB, Y, LDY, t0_, O, 4);                                            \
    switch ((T1) - t0_) {                                                              \
    case 3: KERNEL(WR, X, NB, Y, LDY, t0_, O, 3); break;                               \
    case 2: KERNEL(WR, X, NB, Y, LDY, t0_, O, 2); break;                               \
    case 1: KERNEL(WR, X, NB, Y, LDY, t0_, O, 1); break;                               \
    default: break;                                                                    \
    }                                                                                  \
  } while (0)

/* The packed (x8) kernels' token tiles: up to UK_X8_NT tokens per pass over a
 * weight block (the unpacked vector serves them all), then the rest in one
 * more pass: a speculative step checks 2-8 tokens, and one pass over the
 * weights for all of them costs little more than one token's (a pass per
 * remaining token read the weights again for each). A token's arithmetic is
 * the same whatever the tile, so its outputs are too, bit for bit. */
#ifndef UK_X8_NT
#define UK_X8_NT 4
#endif
#if UK_X8_NT > 4
#define UK_X8_TAIL_ABOVE_3(KERNEL, WR, X, NB, Y, LDY, T0, O)                           \
  case 7: KERNEL(WR, X, NB, Y, LDY, T0, O, 7); break;                                  \
  case 6: KERNEL(WR, X, NB, Y, LDY, T0, O, 6); break;                                  \
  case 5: KERNEL(WR, X, NB, Y, LDY, T0, O, 5); break;                                  \
  case 4: KERNEL(WR, X, NB, Y, LDY, T0, O, 4); break;
#else
#define UK_X8_TAIL_ABOVE_3(KERNEL, WR, X, NB, Y, LDY, T0, O)
#endif
#define UK_AVX2_TOKEN_LOOP_X8(KERNEL, WR, X, NB, Y, LDY, T0, T1, O)                    \
  do {                                                                                 \
    int64_t t0_ = (T0);                                                                \
    for (; t0_ + UK_X8_NT <= (T1); t0_ += UK_X8_NT)                                    \
      KERNEL(WR, X, NB, Y, LDY, t0_, O, UK_X8_NT);                                     \
    switch ((T1) - t0_) {                                                              \
    UK_X8_TAIL_ABOVE_3(KERNEL, WR, X, NB, Y, LDY, t0_, O)                              \
    case 3: KERNEL(WR, X, NB, Y, LDY, t0_, O, 3); break;                               \
    case 2: KERNEL(WR, X, NB, Y, LDY, t0_, O, 2); break;                               \
    case 1: KERNEL(WR, X, NB, Y, LDY, t0_, O, 1); break;                               \
    default: break;                                                                    \
    }                                                                                  \
  } while (0)

/* Tokens per pass over the rows: a chunk's quantized activations (row_bytes
 * each) stay in L2 (192 KiB of it) while every row of the range goes by; the
 * weights of a thread's row range are read once per chunk, from L2 after the
 * first. Without it, a long K (ffn_down's) streamed all T tokens' activations
 * from L3 once per row (group). */
static inline int64_t avx_token_chunk(size_t row_bytes) {
  const int64_t n = (int64_t)((192u << 10) / (row_bytes ? row_bytes : 1)) & ~(int64_t)3;
  return n < 4 ? 4 : n;
}

/* A product over rows [OB, OE) in steps of STEP (1, or a packed layout's 8),
 * WROW(o) the weights of row (group) o, by token chunks. */
#define UK_AVX2_PRODUCT_WITH(LOOP, KERNEL, WROW, STEP, X, NB, ACT_BYTES, Y, LDY, T, OB, OE) \
  do {                                                                                 \
    const int64_t tc_ = avx_token_chunk((size_t)(NB) * (ACT_BYTES));                   \
    for (int64_t ts_ = 0; ts_ < (T); ts_ += tc_) {                                     \
      const int64_t te_ = ts_ + tc_ < (T) ? ts_ + tc_ : (T);                           \
      for (int64_t o = (OB); o < (OE); o += (STEP))                                    \
        LOOP(KERNEL, WROW, X, NB, Y, LDY, ts_, te_, o);                                \
    }                                                                                  \
  } while (0)
#define UK_AVX2_PRODUCT(...) UK_AVX2_PRODUCT_WITH(UK_AVX2_TOKEN_LOOP, __VA_ARGS__)
#define UK_AVX2_PRODUCT_X8(...) UK_AVX2_PRODUCT_WITH(UK_AVX2_TOKEN_LOOP_X8, __VA_ARGS__)

/* The product entry point of packed layout LAYOUT (uk_block_LAYOUT, kernel
 * avx_group_LAYOUT over groups of 8 rows), blocks of QK values, activations
 * ABLK. */
#define UK_AVX2_MATMUL_X8(LAYOUT, QK, ABLK)                                             \
  void MILM_UK_FN(matmul_##LAYOUT##_q8)(const void *w, const void *xq, float *y,       \
                                        int64_t ldy, int64_t T, int64_t K,             \
                                        int64_t o_begin, int64_t o_end) {              \
    const int64_t nb = K / (QK);                                                       \
    const uk_block_##LAYOUT *W = (const uk_block_##LAYOUT *)w;                         \
    const ABLK *X = (const ABLK *)xq;                                                  \
    UK_AVX2_PRODUCT_X8(avx_group_##LAYOUT, W + (o / 8) * nb, 8, X, nb, sizeof(ABLK), y, \
                       ldy, T, o_begin, o_end);                                        \
  }

/* The AVX-512 set compiles this file with VNNI and VL: there the x8 kernels
 * take vpdpbusd (u8 x i8, four products added into each i32 lane, exact) in
 * place of vpmaddubsw + vpmaddwd + vpaddd; the integer sums, and so every
 * output, are the same bit for bit. */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define UK_X8_VNNI 1
#else
#define UK_X8_VNNI 0
#endif

/* 4 activation bytes at p in every 32-bit lane: the x8 kernels' token operand. */
UK_AI __m256i avx_bcast4(const int8_t *p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

/* The x8 kernels' per-block step for one token: the 8 rows' exact integer sums
 * times d_w * d_a (8 weight scales, one activation scale), added with one FMA;
 * and the tile's store. */
UK_AI __m256 avx_x8_fma(__m256i isum, __m256 dw, float ad, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(ad)), acc);
}
UK_AI void avx_x8_store(float *y, int64_t ldy, int64_t t0, int64_t o, const __m256 *acc,
                        const int NT) {
  for (int u = 0; u < NT; ++u)
    _mm256_storeu_ps(y + (t0 + u) * ldy + o, acc[u]);
}

#ifndef MILM_UK_HAVE_matmul_q4_0_q8
#define MILM_UK_HAVE_matmul_q4_0_q8 1
void MILM_UK_FN(matmul_q4_0_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK;
  const uk_block_q4_0 *W = (const uk_block_q4_0 *)w;
  const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;
  UK_AVX2_PRODUCT(avx_rows_q4_0, W + o * nb, 1, X, nb, sizeof(milm_uk_block_q8_32),
                  y, ldy, T, o_begin, o_end);
}
#endif

/* q4_0x8 (milm_uk_repack_q4_0x8): each 32-byte load holds 4 values of the
 * group's 8 rows in its low nibbles and the 4 values 16 further on in its high
 * nibbles; with the token's 4 activation bytes broadcast, vpmaddubsw gives the
 * rows' pair sums in row order. The nibbles stay unsigned (no sign trick): the
 * 8 vectors of a block add up in i16 (8 * 2 * 15 * 127 < 2^15), one vpmaddwd
 * makes them i32 and the 8 * sum(a) offset comes off. One FMA per block serves
 * the 8 rows. Each token's float operations are the same whatever NT is
 * (prefill == decode, bit for bit). */
UK_AI void avx_group_q4_0x8(const uk_block_q4_0x8 *wg, const milm_uk_block_q8_32 *X, int64_t nb,
                            float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  __m256 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q4_0x8 *wb = wg + b;
    avx_prefetch(wb, 3);
    __m256i p[UK_X8_NT];
    for (int u = 0; u < NT; ++u)
      p[u] = _mm256_setzero_si256();
    for (int v = 0; v < 4; ++v) {
      const __m256i q = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * v));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs;
#if UK_X8_VNNI
        p[u] = _mm256_dpbusd_epi32(p[u], lo, avx_bcast4(a + 4 * v));
        p[u] = _mm256_dpbusd_epi32(p[u], hi, avx_bcast4(a + 16 + 4 * v));
#else
        p[u] = _mm256_add_epi16(p[u], _mm256_maddubs_epi16(lo, avx_bcast4(a + 4 * v)));
        p[u] = _mm256_add_epi16(p[u], _mm256_maddubs_epi16(hi, avx_bcast4(a + 16 + 4 * v)));
#endif
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_32 *a = X + (t0 + u) * nb + b;
#if UK_X8_VNNI
      (void)ones;
      const __m256i h = _mm256_sub_epi32(p[u], _mm256_set1_epi32(8 * a->sum));
#else
      const __m256i h =
          _mm256_sub_epi32(_mm256_madd_epi16(p[u], ones), _mm256_set1_epi32(8 * a->sum));
#endif
      acc[u] = avx_x8_fma(h, dw, a->d, acc[u]);
    }
  }
  avx_x8_store(y, ldy, t0, o, acc, NT);
}

#ifndef MILM_UK_HAVE_matmul_q4_0x8_q8
#define MILM_UK_HAVE_matmul_q4_0x8_q8 1
UK_AVX2_MATMUL_X8(q4_0x8, UK_QK, milm_uk_block_q8_32)
#endif

/* q4_g128x8 / q4_g256x8 (milm_uk_repack_q4_g128x8): each 32-value sub-block is
 * q4_0x8's (same integer sums, exact), its sums times the activation block's
 * scale added with one FMA a sub-block into the block's 8 lanes, and those
 * times the 8 rows' weight scales with one FMA a block: the generic x8
 * kernel's float operations in its order, so the outputs are the same bit for
 * bit, and the same whatever NT is (prefill == decode). */
#define UK_AVX2_Q4_GROUPS_X8(LAYOUT, S)                                                \
  UK_AI void avx_group_##LAYOUT(const uk_block_##LAYOUT *wg, const milm_uk_block_q8_32 *X, \
                                int64_t nb, float *y, int64_t ldy, int64_t t0, int64_t o, \
                                const int NT) {                                        \
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);            \
    (void)ones;                                                                        \
    __m256 acc[UK_X8_NT];                                                              \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u] = _mm256_setzero_ps();                                                    \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      const uk_block_##LAYOUT *wb = wg + b;                                            \
      __m256 bacc[UK_X8_NT];                                                           \
      for (int u = 0; u < NT; ++u)                                                     \
        bacc[u] = _mm256_setzero_ps();                                                 \
      for (int v = 0; v < (S); ++v) {                                                  \
        const uint8_t *qv = wb->qs + 128 * v;                                          \
        avx_prefetch(qv, 2);                                                           \
        __m256i p[UK_X8_NT];                                                           \
        for (int u = 0; u < NT; ++u)                                                   \
          p[u] = _mm256_setzero_si256();                                               \
        for (int c = 0; c < 4; ++c) {                                                  \
          const __m256i q = _mm256_loadu_si256((const __m256i *)(qv + 32 * c));        \
          const __m256i lo = _mm256_and_si256(q, m4);                                  \
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);            \
          for (int u = 0; u < NT; ++u) {                                               \
            const int8_t *a = X[((t0 + u) * nb + b) * (S) + v].qs;                     \
            UK_X8_Q4_ACCUMULATE(p[u], lo, hi, a, c);                                   \
          }                                                                            \
        }                                                                              \
        for (int u = 0; u < NT; ++u) {                                                 \
          const milm_uk_block_q8_32 *a = X + ((t0 + u) * nb + b) * (S) + v;            \
          const __m256i h = _mm256_sub_epi32(UK_X8_Q4_WIDEN(p[u]),                     \
                                             _mm256_set1_epi32(8 * a->sum));           \
          bacc[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_set1_ps(a->d), bacc[u]); \
        }                                                                              \
      }                                                                                \
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));      \
      for (int u = 0; u < NT; ++u)                                                     \
        acc[u] = _mm256_fmadd_ps(bacc[u], dw, acc[u]);                                 \
    }                                                                                  \
    avx_x8_store(y, ldy, t0, o, acc, NT);                                              \
  }
/* One q4_0x8-style vector pair (values 4c.. in lo, 16 + 4c.. in hi) into the
 * integer sums; made i32 by UK_X8_Q4_WIDEN. */
#if UK_X8_VNNI
#define UK_X8_Q4_ACCUMULATE(P, LO, HI, A, C)                                           \
  do {                                                                                 \
    (P) = _mm256_dpbusd_epi32((P), (LO), avx_bcast4((A) + 4 * (C)));                   \
    (P) = _mm256_dpbusd_epi32((P), (HI), avx_bcast4((A) + 16 + 4 * (C)));              \
  } while (0)
#define UK_X8_Q4_WIDEN(P) (P)
#else
#define UK_X8_Q4_ACCUMULATE(P, LO, HI, A, C)                                           \
  do {                                                                                 \
    (P) = _mm256_add_epi16((P), _mm256_maddubs_epi16((LO), avx_bcast4((A) + 4 * (C)))); \
    (P) = _mm256_add_epi16((P), _mm256_maddubs_epi16((HI), avx_bcast4((A) + 16 + 4 * (C)))); \
  } while (0)
#define UK_X8_Q4_WIDEN(P) _mm256_madd_epi16((P), ones)
#endif
UK_AVX2_Q4_GROUPS_X8(q4_g128x8, 4)
UK_AVX2_Q4_GROUPS_X8(q4_g256x8, 8)
UK_AVX2_Q4_GROUPS_X8(q4_g64x8, 2)
/* The entry point: a weight block of 32 S values reads S activation blocks. */
#define UK_AVX2_MATMUL_Q4_GROUPS_X8(LAYOUT, S)                                         \
  void MILM_UK_FN(matmul_##LAYOUT##_q8)(const void *w, const void *xq, float *y,       \
                                        int64_t ldy, int64_t T, int64_t K,             \
                                        int64_t o_begin, int64_t o_end) {              \
    const int64_t nb = K / (32 * (S));                                                 \
    const uk_block_##LAYOUT *W = (const uk_block_##LAYOUT *)w;                         \
    const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;                    \
    UK_AVX2_PRODUCT_X8(avx_group_##LAYOUT, W + (o / 8) * nb, 8, X, nb,                 \
                       (S) * sizeof(milm_uk_block_q8_32), y, ldy, T, o_begin, o_end);  \
  }
#ifndef MILM_UK_HAVE_matmul_q4_g128x8_q8
#define MILM_UK_HAVE_matmul_q4_g128x8_q8 1
UK_AVX2_MATMUL_Q4_GROUPS_X8(q4_g128x8, 4)
#endif
#ifndef MILM_UK_HAVE_matmul_q4_g256x8_q8
#define MILM_UK_HAVE_matmul_q4_g256x8_q8 1
UK_AVX2_MATMUL_Q4_GROUPS_X8(q4_g256x8, 8)
#endif
#ifndef MILM_UK_HAVE_matmul_q4_g64x8_q8
#define MILM_UK_HAVE_matmul_q4_g64x8_q8 1
UK_AVX2_MATMUL_Q4_GROUPS_X8(q4_g64x8, 2)
#endif

/* Outlier columns (UK_DEFINE_OUTLIER_COLUMNS_F16): per row a contiguous dot
 * of 8 f16 values (F16C) at a time with the gathered activations. */
UK_AI float avx_dot_f16(const uint16_t *s, const float *xg, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + j))),
                          _mm256_loadu_ps(xg + j), acc);
  float tail = 0.0f;
  for (; j < n; ++j)
    tail += avx_fp16(s[j]) * xg[j];
  return avx_hsum_ps(acc) + tail;
}
#ifndef MILM_UK_HAVE_outlier_columns_f16
#define MILM_UK_HAVE_outlier_columns_f16 1
UK_DEFINE_OUTLIER_COLUMNS_F16(avx_dot_f16)
#endif

/* q8_0x8 (milm_uk_repack_q8_0x8): each 32-byte vector holds values 4v..4v+3 of
 * the group's 8 rows; the token's 4 activation bytes broadcast to every lane
 * make one sign-trick vpmaddubsw + vpmaddwd the 8 rows' partial sums in row
 * order, added up in i32 over the block (exact), then one FMA per block for
 * the 8 rows. |w| is taken once per vector for the NT tokens; each token's
 * float operations are the same whatever NT is (prefill == decode, bit for
 * bit). Twice the single-row kernel's speed at T = 64 and at T = 1 (hot). */
UK_AI void avx_group_q8_0x8(const uk_block_q8_0x8 *wg, const milm_uk_block_q8_32 *X, int64_t nb,
                            float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q8_0x8 *wb = wg + b;
    avx_prefetch(wb, 5);
    __m256i s[UK_X8_NT];
    for (int u = 0; u < NT; ++u)
      s[u] = _mm256_setzero_si256();
    for (int v = 0; v < 8; ++v) {
      const __m256i w = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * v));
#if UK_X8_VNNI
      /* w + 128 as u8 (one xor for the NT tokens); the 128 * sum(a) it adds
       * comes off after the block. */
      (void)ones;
      const __m256i wu = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80));
      for (int u = 0; u < NT; ++u)
        s[u] = _mm256_dpbusd_epi32(s[u], wu, avx_bcast4(X[(t0 + u) * nb + b].qs + 4 * v));
#else
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int u = 0; u < NT; ++u) {
        const __m256i a4 = avx_bcast4(X[(t0 + u) * nb + b].qs + 4 * v);
        const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(a4, w));
        s[u] = _mm256_add_epi32(s[u], _mm256_madd_epi16(p, ones));
      }
#endif
    }
#if UK_X8_VNNI
    for (int u = 0; u < NT; ++u)
      s[u] = _mm256_sub_epi32(s[u], _mm256_set1_epi32(128 * X[(t0 + u) * nb + b].sum));
#endif
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));
    for (int u = 0; u < NT; ++u)
      acc[u] = avx_x8_fma(s[u], dw, X[(t0 + u) * nb + b].d, acc[u]);
  }
  avx_x8_store(y, ldy, t0, o, acc, NT);
}

#ifndef MILM_UK_HAVE_matmul_q8_0x8_q8
#define MILM_UK_HAVE_matmul_q8_0x8_q8 1
UK_AVX2_MATMUL_X8(q8_0x8, UK_QK, milm_uk_block_q8_32)
#endif

#ifndef MILM_UK_HAVE_matmul_q8_0_q8
#define MILM_UK_HAVE_matmul_q8_0_q8 1
void MILM_UK_FN(matmul_q8_0_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK;
  const uk_block_q8_0 *W = (const uk_block_q8_0 *)w;
  const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;
  UK_AVX2_PRODUCT(avx_rows_q8_0, W + o * nb, 1, X, nb, sizeof(milm_uk_block_q8_32),
                  y, ldy, T, o_begin, o_end);
}
#endif

/* q5_0's and q5_1's fifth bits: bit j of the little-endian u32 qh -> 0x10 in
 * byte j. Each byte of the broadcast picks the qh byte holding its bit, then
 * tests the bit. */
UK_AI __m256i avx_q5_high_bits(const uint8_t *qh4) {
  uint32_t qh;
  __builtin_memcpy(&qh, qh4, 4);
  const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}
UK_AI __m256i avx_load_q5_0(const uk_block_q5_0 *b) {
  const __m256i q = _mm256_or_si256(avx_unpack_nibbles(b->qs), avx_q5_high_bits(b->qh));
  return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
}
UK_AVX2_Q32_KERNEL(avx_rows_q5_0, uk_block_q5_0, avx_load_q5_0)

/* q4_1 and q5_1: unsigned weights (vpmaddubsw takes them as they are) and a min:
 * d_w d_x (q . a) + m_w d_x sum(a). */
#define UK_AVX2_Q32_MIN_KERNEL(NAME, WBLK, LOADW)                                      \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_32 *X, int64_t nb, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    __m256 acc[4];                                                                     \
    float accm[4];                                                                     \
    for (int u = 0; u < NT; ++u) {                                                     \
      acc[u] = _mm256_setzero_ps();                                                    \
      accm[u] = 0.0f;                                                                  \
    }                                                                                  \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      const __m256i w0 = LOADW(wr + b);                                                \
      const float d0 = avx_fp16(wr[b].d), m0 = avx_fp16(wr[b].m);                      \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        const __m256i p = _mm256_madd_epi16(                                           \
            _mm256_maddubs_epi16(w0, _mm256_loadu_si256((const __m256i *)xb->qs)),      \
            _mm256_set1_epi16(1));                                                     \
        acc[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d0 * xb->d), acc[u]); \
        accm[u] += m0 * xb->d * (float)xb->sum;                                        \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = avx_hsum_ps(acc[u]) + accm[u];                           \
  }
UK_AI __m256i avx_load_q4_1(const uk_block_q4_1 *b) { return avx_unpack_nibbles(b->qs); }
UK_AI __m256i avx_load_q5_1(const uk_block_q5_1 *b) {
  return _mm256_or_si256(avx_unpack_nibbles(b->qs), avx_q5_high_bits(b->qh));
}
UK_AVX2_Q32_MIN_KERNEL(avx_rows_q4_1, uk_block_q4_1, avx_load_q4_1)
UK_AVX2_Q32_MIN_KERNEL(avx_rows_q5_1, uk_block_q5_1, avx_load_q5_1)

#define UK_AVX2_MATMUL_Q8(fmt, QK, ABLK)                                               \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,          \
                                     int64_t ldy, int64_t T, int64_t K,                \
                                     int64_t o_begin, int64_t o_end) {                 \
    const int64_t nb = K / (QK);                                                       \
    const uk_block_##fmt *W = (const uk_block_##fmt *)w;                               \
    const ABLK *X = (const ABLK *)xq;                                                  \
    UK_AVX2_PRODUCT(avx_rows_##fmt, W + o * nb, 1, X, nb, sizeof(ABLK), y, ldy, T,     \
                    o_begin, o_end);                                                   \
  }
#ifndef MILM_UK_HAVE_matmul_q4_1_q8
#define MILM_UK_HAVE_matmul_q4_1_q8 1
UK_AVX2_MATMUL_Q8(q4_1, UK_QK, milm_uk_block_q8_32)
#endif
#ifndef MILM_UK_HAVE_matmul_q5_0_q8
#define MILM_UK_HAVE_matmul_q5_0_q8 1
UK_AVX2_MATMUL_Q8(q5_0, UK_QK, milm_uk_block_q8_32)
#endif
#ifndef MILM_UK_HAVE_matmul_q5_1_q8
#define MILM_UK_HAVE_matmul_q5_1_q8 1
UK_AVX2_MATMUL_Q8(q5_1, UK_QK, milm_uk_block_q8_32)
#endif

/*---- q4_k and q5_k -------------------------------------------------------------------*/

/* q4_k / q5_k: per 64-value chunk c, the low nibbles (sub-block 2c) and high
 * nibbles (2c + 1) times the activations, scaled by the 6-bit scales in i32;
 * the mins times the activation sums (bsums) are subtracted from the same
 * accumulator (a second one per token made the 4-token tile spill).
 * HIGH5(c, lo, hi) adds q5_k's fifth bits. */
#define UK_AVX2_QK4_KERNEL(NAME, WBLK, HIGH5)                                          \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_k *X, int64_t nb, float *y,    \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    __m256 acc[4]; /* one accumulator per token: the mins are subtracted per block */ \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u] = _mm256_setzero_ps();                                                    \
    const __m256i m4 = _mm256_set1_epi8(0x0F);                                         \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      const WBLK *wb = wr + b;                                                         \
      avx_prefetch(wb, (int)((sizeof(WBLK) + 63) / 64));                               \
      int sc[8], mn[8];                                                                \
      for (int j = 0; j < 8; ++j)                                                      \
        uk_scale_min_k4(j, wb->scales, &sc[j], &mn[j]);                                \
      /* Each min twice: it multiplies the two 16-value bsums of its sub-block. */     \
      const __m256i mins = _mm256_setr_epi16(                                          \
          (short)mn[0], (short)mn[0], (short)mn[1], (short)mn[1], (short)mn[2],        \
          (short)mn[2], (short)mn[3], (short)mn[3], (short)mn[4], (short)mn[4],        \
          (short)mn[5], (short)mn[5], (short)mn[6], (short)mn[6], (short)mn[7],        \
          (short)mn[7]);                                                               \
      __m256i sumi[4];                                                                 \
      for (int u = 0; u < NT; ++u)                                                     \
        sumi[u] = _mm256_setzero_si256();                                              \
      for (int c = 0; c < 4; ++c) {                                                    \
        const __m256i q = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * c));      \
        __m256i lo = _mm256_and_si256(q, m4);                                          \
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                    \
        HIGH5(c, lo, hi);                                                              \
        const __m256i s0 = _mm256_set1_epi16((short)sc[2 * c]);                        \
        const __m256i s1 = _mm256_set1_epi16((short)sc[2 * c + 1]);                    \
        for (int u = 0; u < NT; ++u) {                                                 \
          const int8_t *a = X[(t0 + u) * nb + b].qs + 64 * c;                          \
          const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)a)); \
          const __m256i p1 =                                                           \
              _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(a + 32))); \
          sumi[u] = _mm256_add_epi32(sumi[u], _mm256_add_epi32(_mm256_madd_epi16(p0, s0), \
                                                               _mm256_madd_epi16(p1, s1))); \
        }                                                                              \
      }                                                                                \
      const float d = avx_fp16(wb->d), dmin = avx_fp16(wb->dmin);                      \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_k *xb = X + (t0 + u) * nb + b;                          \
        const __m256i bs = _mm256_loadu_si256((const __m256i *)xb->bsums);             \
        acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb->d), _mm256_cvtepi32_ps(sumi[u]), acc[u]); \
        acc[u] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * xb->d),                        \
                                  _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mins)), acc[u]); \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = avx_hsum_ps(acc[u]);                                     \
  }
#define UK_NO_HIGH5(c, lo, hi) ((void)0)
/* Bit 2c of qh[l] is the fifth bit of low-nibble value l, bit 2c + 1 of the high. */
#define UK_Q5K_HIGH5(c, lo, hi)                                                                    \
  do {                                                                                             \
    const __m256i qh_ = _mm256_loadu_si256((const __m256i *)wb->qh);                               \
    const __m256i one_ = _mm256_set1_epi8(1);                                                      \
    const __m128i sh0_ = _mm_cvtsi32_si128(2 * (c)), sh1_ = _mm_cvtsi32_si128(2 * (c) + 1);        \
    lo = _mm256_or_si256(                                                                          \
        lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh_, sh0_), one_), 4));            \
    hi = _mm256_or_si256(                                                                          \
        hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh_, sh1_), one_), 4));            \
  } while (0)
UK_AVX2_QK4_KERNEL(avx_rows_q4_k, uk_block_q4_k, UK_NO_HIGH5)
UK_AVX2_QK4_KERNEL(avx_rows_q5_k, uk_block_q5_k, UK_Q5K_HIGH5)

/* q4_kx8 (milm_uk_repack_q4_kx8): the 8 rows' 6-bit scales and mins are
 * decoded together, byte i of the 8 rows being one u64 (SWAR), into i16 pairs
 * (s, s) per row lane, once per super-block for the NT tokens. Each 32-byte
 * vector holds 4 values of sub-blocks 2c (low nibbles) and 2c + 1 (high) for
 * all 8 rows; with the token's 4 activation bytes broadcast, vpmaddubsw gives
 * the rows' pair sums, which 8 vectors add up in i16 (8 * 2 * 15 * 127 <
 * 2^15) before one vpmaddwd by the scales: the row sums in row order, no
 * horizontal sums. The mins times the activations' sub-block sums likewise
 * (vpmaddwd of (m, m) by the two 16-value bsums). Each token's float
 * operations are the same whatever NT is (prefill == decode, bit for bit). */
UK_AI __m256i avx_dup_u8_to_i16_pairs(uint64_t v) {
  const __m128i x = _mm_cvtsi64_si128((long long)v);
  return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x, x));
}

UK_AI void avx_group_q4_kx8(const uk_block_q4_kx8 *wg, const milm_uk_block_q8_k *X, int64_t nb,
                            float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const uint64_t k3f = 0x3F3F3F3F3F3F3F3Full, k0f = 0x0F0F0F0F0F0F0F0Full,
                 k30 = 0x3030303030303030ull;
  __m256 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q4_kx8 *wb = wg + b;
    if (NT > 1)
      avx_prefetch(wb, 18);
    uint64_t B[12];
    __builtin_memcpy(B, wb->scales, sizeof B);
    __m256i scv[8], mnv[8];
    for (int j = 0; j < 4; ++j) {
#if UK_X8_VNNI /* the scales as one i32 per row */
      scv[j] = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)(B[j] & k3f)));
      scv[j + 4] = _mm256_cvtepu8_epi32(
          _mm_cvtsi64_si128((long long)((B[j + 8] & k0f) | ((B[j] >> 2) & k30))));
#else
      scv[j] = avx_dup_u8_to_i16_pairs(B[j] & k3f);
      scv[j + 4] = avx_dup_u8_to_i16_pairs((B[j + 8] & k0f) | ((B[j] >> 2) & k30));
#endif
      mnv[j] = avx_dup_u8_to_i16_pairs(B[j + 4] & k3f);
      mnv[j + 4] = avx_dup_u8_to_i16_pairs(((B[j + 8] >> 4) & k0f) | ((B[j + 4] >> 2) & k30));
    }
    const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));
    const __m256 dmv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->dmin));
    __m256i isum[UK_X8_NT];
    for (int u = 0; u < NT; ++u)
      isum[u] = _mm256_setzero_si256();
    for (int s = 0; s < 8; ++s) {
      if (NT == 1)
        avx_prefetch_part(wb + UK_X8_AHEAD, 3 * s, 3, 18);
      const uint8_t *q = wb->qs + 256 * (s >> 1);
      __m256i p[UK_X8_NT];
      for (int u = 0; u < NT; ++u)
        p[u] = _mm256_setzero_si256();
      for (int v = 0; v < 8; ++v) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(q + 32 * v));
        const __m256i w = (s & 1) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4)
                                  : _mm256_and_si256(raw, m4);
        for (int u = 0; u < NT; ++u) {
          const __m256i a4 = avx_bcast4(X[(t0 + u) * nb + b].qs + 32 * s + 4 * v);
#if UK_X8_VNNI
          p[u] = _mm256_dpbusd_epi32(p[u], w, a4);
#else
          p[u] = _mm256_add_epi16(p[u], _mm256_maddubs_epi16(w, a4));
#endif
        }
      }
      for (int u = 0; u < NT; ++u)
#if UK_X8_VNNI
        isum[u] = _mm256_add_epi32(isum[u], _mm256_mullo_epi32(p[u], scv[s]));
#else
        isum[u] = _mm256_add_epi32(isum[u], _mm256_madd_epi16(p[u], scv[s]));
#endif
    }
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_k *a = X + (t0 + u) * nb + b;
      __m256i m = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        int32_t bs2;
        __builtin_memcpy(&bs2, a->bsums + 2 * j, 4);
        m = _mm256_add_epi32(m, _mm256_madd_epi16(mnv[j], _mm256_set1_epi32(bs2)));
      }
      const __m256 ad = _mm256_set1_ps(a->d);
      acc[u] = avx_x8_fma(isum[u], dv, a->d, acc[u]);
      acc[u] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(dmv, ad), acc[u]);
    }
  }
  avx_x8_store(y, ldy, t0, o, acc, NT);
}

#ifndef MILM_UK_HAVE_matmul_q4_kx8_q8
#define MILM_UK_HAVE_matmul_q4_kx8_q8 1
UK_AVX2_MATMUL_X8(q4_kx8, UK_QK_K, milm_uk_block_q8_k)
#endif

#ifndef MILM_UK_HAVE_matmul_q5_k_q8
#define MILM_UK_HAVE_matmul_q5_k_q8 1
UK_AVX2_MATMUL_Q8(q5_k, UK_QK_K, milm_uk_block_q8_k)
#endif

#ifndef MILM_UK_HAVE_matmul_q4_k_q8
#define MILM_UK_HAVE_matmul_q4_k_q8 1
void MILM_UK_FN(matmul_q4_k_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK_K;
  const uk_block_q4_k *W = (const uk_block_q4_k *)w;
  const milm_uk_block_q8_k *X = (const milm_uk_block_q8_k *)xq;
  UK_AVX2_PRODUCT(avx_rows_q4_k, W + o * nb, 1, X, nb, sizeof(milm_uk_block_q8_k),
                  y, ldy, T, o_begin, o_end);
}
#endif

/*---- q6_k ---------------------------------------------------------------------------*/

UK_AI void avx_rows_q6_k(const uk_block_q6_k *wr, const milm_uk_block_q8_k *X, int64_t nb,
                         float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  __m256 acc[4];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q6_k *wb = wr + b;
    avx_prefetch(wb, 4);
    /* The 16 scales as i16, for the -32 correction sum_s sc_s * bsums_s. */
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb->scales));
    __m256i sumi[4];
    for (int u = 0; u < NT; ++u)
      sumi[u] = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(wb->ql + 64 * n));
      const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(wb->ql + 64 * n + 32));
      const __m256i qh = _mm256_loadu_si256((const __m256i *)(wb->qh + 32 * n));
      __m256i q[4], s[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                             _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_and_si256(qh, m30));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
      /* Values 0..15 of each 32 use scale 2k, values 16..31 scale 2k + 1. */
      for (int k = 0; k < 4; ++k)
        s[k] = _mm256_set_m128i(_mm_set1_epi16(wb->scales[8 * n + 2 * k + 1]),
                                _mm_set1_epi16(wb->scales[8 * n + 2 * k]));
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs + 128 * n;
        for (int k = 0; k < 4; ++k) {
          const __m256i p =
              _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(a + 32 * k)));
          sumi[u] = _mm256_add_epi32(sumi[u], _mm256_madd_epi16(p, s[k]));
        }
      }
    }
    const float d = avx_fp16(wb->d);
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_k *xb = X + (t0 + u) * nb + b;
      const __m256i bs = _mm256_loadu_si256((const __m256i *)xb->bsums);
      const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
      acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb->d),
                               _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[u], corr)), acc[u]);
    }
  }
  for (int u = 0; u < NT; ++u)
    y[(t0 + u) * ldy + o] = avx_hsum_ps(acc[u]);
}

/* q6_kx8 (milm_uk_repack_q6_kx8): sub-block s's three vectors give, for the 8
 * rows, its 16 values as four vectors of 4 values per row, unsigned in [0, 64)
 * (three by a mask, the fourth from the three top-bit pairs: 11 operations).
 * With the token's 4 activation bytes broadcast, vpmaddubsw gives the rows'
 * pair sums; two vectors add up in i16 (2 * 2 * 63 * 127 < 2^15) and one
 * vpmaddwd by the (signed) sub-block scales, decoded once per block as (s, s)
 * pairs per row lane, takes them to i32. The -32 offset comes off as
 * 32 * sum_s sc_s * bsums_s (vpmaddwd of (sc_s, sc_s+1) by two bsums). Each
 * token's float operations are the same whatever NT is (prefill == decode). */
#define UK_UNROLL _Pragma("clang loop unroll(full)")
UK_AI __m256i avx_dup_i8_to_i16_pairs(uint64_t v) {
  const __m128i x = _mm_cvtsi64_si128((long long)v);
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(x, x));
}

/* The 4 value vectors of sub-block s (values 16s + 4j .. 16s + 4j + 3, j < 4). */
UK_AI void avx_q6_kx8_unpack(const uk_block_q6_kx8 *wb, int s, __m256i q[4]) {
  const __m256i m6 = _mm256_set1_epi8(0x3F);
  const __m256i v0 = _mm256_loadu_si256((const __m256i *)(wb->q + 96 * s));
  const __m256i v1 = _mm256_loadu_si256((const __m256i *)(wb->q + 96 * s + 32));
  const __m256i v2 = _mm256_loadu_si256((const __m256i *)(wb->q + 96 * s + 64));
  q[0] = _mm256_and_si256(v0, m6);
  q[1] = _mm256_and_si256(v1, m6);
  q[2] = _mm256_and_si256(v2, m6);
  /* Shifts by 16-bit lanes: a byte's top bits land in its own low bits. */
  q[3] = _mm256_or_si256(
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 6), _mm256_set1_epi8(0x03)),
                      _mm256_and_si256(_mm256_srli_epi16(v1, 4), _mm256_set1_epi8(0x0C))),
      _mm256_and_si256(_mm256_srli_epi16(v2, 2), _mm256_set1_epi8(0x30)));
}

UK_AI void avx_group_q6_kx8(const uk_block_q6_kx8 *wg, const milm_uk_block_q8_k *X, int64_t nb,
                            float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  __m256 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q6_kx8 *wb = wg + b;
    if (NT > 1)
      avx_prefetch(wb, 27);
    uint64_t S[16];
    __builtin_memcpy(S, wb->scales, sizeof S);
    __m256i isum[UK_X8_NT];
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_k *a = X + (t0 + u) * nb + b;
      __m256i c = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        const __m128i x = _mm_unpacklo_epi8(_mm_cvtsi64_si128((long long)S[2 * s]),
                                            _mm_cvtsi64_si128((long long)S[2 * s + 1]));
        int32_t bs2;
        __builtin_memcpy(&bs2, a->bsums + 2 * s, 4);
        const __m256i sp = _mm256_cvtepi8_epi16(x); /* (sc_2s, sc_2s+1) per row */
        c = _mm256_add_epi32(c, _mm256_madd_epi16(sp, _mm256_set1_epi32(bs2)));
      }
      isum[u] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(c, 5));
    }
    UK_UNROLL for (int s = 0; s < 16; ++s) {
      if (NT == 1)
        avx_prefetch_part(wb + UK_X8_AHEAD, 2 * s, 2, 27);
      __m256i q[4];
      avx_q6_kx8_unpack(wb, s, q);
#if UK_X8_VNNI /* the 16 values' sum in i32, then times the row's scale */
      const __m256i sc32 = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128((long long)S[s]));
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs + 16 * s;
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[0], avx_bcast4(a));
        p = _mm256_dpbusd_epi32(p, q[1], avx_bcast4(a + 4));
        p = _mm256_dpbusd_epi32(p, q[2], avx_bcast4(a + 8));
        p = _mm256_dpbusd_epi32(p, q[3], avx_bcast4(a + 12));
        isum[u] = _mm256_add_epi32(isum[u], _mm256_mullo_epi32(p, sc32));
      }
#else
      const __m256i sc = avx_dup_i8_to_i16_pairs(S[s]);
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs + 16 * s;
        const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(q[0], avx_bcast4(a)),
                                            _mm256_maddubs_epi16(q[1], avx_bcast4(a + 4)));
        const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(q[2], avx_bcast4(a + 8)),
                                            _mm256_maddubs_epi16(q[3], avx_bcast4(a + 12)));
        isum[u] = _mm256_add_epi32(isum[u], _mm256_add_epi32(_mm256_madd_epi16(p0, sc),
                                                             _mm256_madd_epi16(p1, sc)));
      }
#endif
    }
    const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));
    for (int u = 0; u < NT; ++u)
      acc[u] = avx_x8_fma(isum[u], dv, X[(t0 + u) * nb + b].d, acc[u]);
  }
  avx_x8_store(y, ldy, t0, o, acc, NT);
}

#ifndef MILM_UK_HAVE_matmul_q6_kx8_q8
#define MILM_UK_HAVE_matmul_q6_kx8_q8 1
UK_AVX2_MATMUL_X8(q6_kx8, UK_QK_K, milm_uk_block_q8_k)
#endif

#ifndef MILM_UK_HAVE_matmul_q6_k_q8
#define MILM_UK_HAVE_matmul_q6_k_q8 1
void MILM_UK_FN(matmul_q6_k_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK_K;
  const uk_block_q6_k *W = (const uk_block_q6_k *)w;
  const milm_uk_block_q8_k *X = (const milm_uk_block_q8_k *)xq;
  UK_AVX2_PRODUCT(avx_rows_q6_k, W + o * nb, 1, X, nb, sizeof(milm_uk_block_q8_k),
                  y, ldy, T, o_begin, o_end);
}
#endif

/*---- float formats ---------------------------------------------------------------------*/

UK_AI __m256 avx_load8_f32(const float *p) { return _mm256_loadu_ps(p); }
UK_AI __m256 avx_load8_f16(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
UK_AI __m256 avx_load8_bf16(const uint16_t *p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
UK_AI float avx_conv_f32(float v) { return v; }

/* One weight row against NT tokens: 8 values per step, four steps unrolled for
 * one token (independent chains), the NT chains otherwise; scalar tail. */
#define UK_AVX2_FLOAT_KERNEL(NAME, WTYPE, LOAD8, CONV1)                                \
  UK_AI void NAME(const WTYPE *wr, const float *x, int64_t ldx, int64_t K, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    __m256 acc[4][2];                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u][0] = acc[u][1] = _mm256_setzero_ps();                                     \
    int64_t i = 0;                                                                     \
    for (; i + 16 <= K; i += 16) {                                                     \
      const __m256 w0 = LOAD8(wr + i), w1 = LOAD8(wr + i + 8);                         \
      for (int u = 0; u < NT; ++u) {                                                   \
        const float *xt = x + (t0 + u) * ldx + i;                                      \
        acc[u][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), acc[u][0]);               \
        acc[u][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), acc[u][1]);           \
      }                                                                                \
    }                                                                                  \
    for (; i + 8 <= K; i += 8) {                                                       \
      const __m256 w0 = LOAD8(wr + i);                                                 \
      for (int u = 0; u < NT; ++u)                                                     \
        acc[u][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (t0 + u) * ldx + i), acc[u][0]); \
    }                                                                                  \
    for (int u = 0; u < NT; ++u) {                                                     \
      float s = avx_hsum_ps(_mm256_add_ps(acc[u][0], acc[u][1]));                      \
      for (int64_t j = i; j < K; ++j)                                                  \
        s += CONV1(wr[j]) * x[(t0 + u) * ldx + j];                                     \
      y[(t0 + u) * ldy + o] = s;                                                       \
    }                                                                                  \
  }
UK_AVX2_FLOAT_KERNEL(avx_rows_f32, float, avx_load8_f32, avx_conv_f32)
UK_AVX2_FLOAT_KERNEL(avx_rows_f16, uint16_t, avx_load8_f16, avx_fp16)
UK_AVX2_FLOAT_KERNEL(avx_rows_bf16, uint16_t, avx_load8_bf16, uk_bf16_to_fp32)

#define UK_AVX2_FLOAT_TOKEN_LOOP(KERNEL, WR, X, LDX, K, Y, LDY, T, O)                  \
  do {                                                                                 \
    int64_t t0_ = 0;                                                                   \
    for (; t0_ + 4 <= (T); t0_ += 4)                                                   \
      KERNEL(WR, X, LDX, K, Y, LDY, t0_, O, 4);                                        \
    switch ((T) - t0_) {                                                               \
    case 3: KERNEL(WR, X, LDX, K, Y, LDY, t0_, O, 3); break;                           \
    case 2: KERNEL(WR, X, LDX, K, Y, LDY, t0_, O, 2); break;                           \
    case 1: KERNEL(WR, X, LDX, K, Y, LDY, t0_, O, 1); break;                           \
    default: break;                                                                    \
    }                                                                                  \
  } while (0)

#define UK_AVX2_MATMUL_FLOAT(fmt, WTYPE)                                               \
  void MILM_UK_FN(matmul_##fmt)(const void *w, const float *x, int64_t ldx, float *y,  \
                                int64_t ldy, int64_t T, int64_t K, int64_t o_begin,    \
                                int64_t o_end, void *scratch) {                        \
    (void)scratch;                                                                     \
    const WTYPE *W = (const WTYPE *)w;                                                 \
    for (int64_t o = o_begin; o < o_end; ++o)                                          \
      UK_AVX2_FLOAT_TOKEN_LOOP(avx_rows_##fmt, W + o * K, x, ldx, K, y, ldy, T, o);    \
  }
#ifndef MILM_UK_HAVE_matmul_f32
#define MILM_UK_HAVE_matmul_f32 1
UK_AVX2_MATMUL_FLOAT(f32, float)
#endif
#ifndef MILM_UK_HAVE_matmul_f16
#define MILM_UK_HAVE_matmul_f16 1
UK_AVX2_MATMUL_FLOAT(f16, uint16_t)
#endif
#ifndef MILM_UK_HAVE_matmul_bf16
#define MILM_UK_HAVE_matmul_bf16 1
UK_AVX2_MATMUL_FLOAT(bf16, uint16_t)
#endif

/*---- attention over the f16 cache -----------------------------------------------------*/

/* e^x for x <= 0 (relative error ~2e-7; 0 below -87.3, so -inf gives 0):
 * x = n ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial,
 * 2^n put into the exponent bits. */
UK_AI __m256 avx_exp_nonpos_ps(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x); /* ln2 in two parts */
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

#ifndef MILM_UK_HAVE_kv_append_f16
#define MILM_UK_HAVE_kv_append_f16 1
void MILM_UK_FN(kv_append_f16)(const float *k, int64_t ldk, const float *v, int64_t ldv,
                               uint16_t *k_cache, uint16_t *v_cache, const int32_t *pos,
                               int64_t T, int64_t n_kv_heads, int64_t head_dim,
                               int64_t kv_begin, int64_t kv_end) {
  for (int64_t t = 0; t < T; ++t) {
    const int64_t row = (int64_t)pos[t] * n_kv_heads;
    for (int64_t g = kv_begin; g < kv_end; ++g) {
      const float *ks = k + t * ldk + g * head_dim, *vs = v + t * ldv + g * head_dim;
      uint16_t *kd = k_cache + (row + g) * head_dim, *vd = v_cache + (row + g) * head_dim;
      int64_t d = 0;
      for (; d + 8 <= head_dim; d += 8) {
        _mm_storeu_si128((__m128i *)(kd + d),
                         _mm256_cvtps_ph(_mm256_loadu_ps(ks + d), _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(vd + d),
                         _mm256_cvtps_ph(_mm256_loadu_ps(vs + d), _MM_FROUND_TO_NEAREST_INT));
      }
      for (; d < head_dim; ++d) {
        kd[d] = uk_fp32_to_fp16(ks[d]);
        vd[d] = uk_fp32_to_fp16(vs[d]);
      }
    }
  }
}
#endif

enum { UK_ATT_CHUNK = 64 };

/* One chunk of cache positions j0 .. j0+n-1 (n <= 64) for query heads
 * h0 .. h0+NH-1 (NH <= 4, all reading the kv head at kbase/vbase) of one token:
 * scores, the online-softmax update of each head's running maximum m[h] and sum
 * l[h] (out rescaled when the maximum grows), and out += weights * V. Each K and
 * V row is converted from f16 once for the NH heads. */
UK_AI void avx_attend_chunk(const float *q, float *out, int64_t head_dim,
                            const uint16_t *kbase, const uint16_t *vbase, int64_t stride,
                            int64_t j0, int64_t n, float scale, float *m, float *l,
                            const int NH) {
  float s[4][UK_ATT_CHUNK] __attribute__((aligned(32)));
  const int64_t D8 = head_dim & ~(int64_t)7;
  {
    /* Scores, KB keys at a time so that KB * NH FMA chains run side by side. */
    const int KB = NH == 1 ? 8 : (NH == 2 ? 4 : 2); /* KB * NH <= 8 */
    int64_t c = 0;
    for (; c + KB <= n; c += KB) {
      __m256 acc[8];
      for (int i = 0; i < KB * NH; ++i)
        acc[i] = _mm256_setzero_ps();
      for (int64_t d = 0; d < D8; d += 8) {
        __m256 qv[4];
        for (int h = 0; h < NH; ++h)
          qv[h] = _mm256_loadu_ps(q + h * head_dim + d);
        for (int kb = 0; kb < KB; ++kb) {
          const __m256 k8 = _mm256_cvtph_ps(
              _mm_loadu_si128((const __m128i *)(kbase + (j0 + c + kb) * stride + d)));
          for (int h = 0; h < NH; ++h)
            acc[kb * NH + h] = _mm256_fmadd_ps(qv[h], k8, acc[kb * NH + h]);
        }
      }
      for (int kb = 0; kb < KB; ++kb) {
        const uint16_t *kr = kbase + (j0 + c + kb) * stride;
        /* The rows are strided (kv heads interleave): fetch this key's V row
         * for the weighted sum below and the next kv head's K row. */
        for (int64_t d = 0; d < head_dim; d += 32) {
          _mm_prefetch((const char *)(vbase + (j0 + c + kb) * stride + d), _MM_HINT_T0);
          _mm_prefetch((const char *)(kr + head_dim + d), _MM_HINT_T0);
        }
        for (int h = 0; h < NH; ++h) {
          float dot = avx_hsum_ps(acc[kb * NH + h]);
          for (int64_t d = D8; d < head_dim; ++d)
            dot += q[h * head_dim + d] * avx_fp16(kr[d]);
          s[h][c + kb] = dot * scale;
        }
      }
    }
    for (; c < n; ++c) {
      const uint16_t *kr = kbase + (j0 + c) * stride;
      __m256 acc[NH];
      for (int h = 0; h < NH; ++h)
        acc[h] = _mm256_setzero_ps();
      for (int64_t d = 0; d < D8; d += 8) {
        const __m256 k8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + d)));
        for (int h = 0; h < NH; ++h)
          acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * head_dim + d), k8, acc[h]);
      }
      for (int h = 0; h < NH; ++h) {
        float dot = avx_hsum_ps(acc[h]);
        for (int64_t d = D8; d < head_dim; ++d)
          dot += q[h * head_dim + d] * avx_fp16(kr[d]);
        s[h][c] = dot * scale;
      }
    }
    /* Online softmax: rescale what was accumulated when the maximum grows, then
     * turn scores into weights (padding to a multiple of 8 gives weight 0). */
    const int64_t n8 = (n + 7) & ~(int64_t)7;
    for (int h = 0; h < NH; ++h) {
      for (int64_t c = n; c < n8; ++c)
        s[h][c] = -__builtin_inff();
      __m256 mx = _mm256_set1_ps(-__builtin_inff());
      for (int64_t c = 0; c < n8; c += 8)
        mx = _mm256_max_ps(mx, _mm256_load_ps(&s[h][c]));
      const float cm = avx_hmax_ps(mx);
      if (cm > m[h]) {
        const float f = __builtin_expf(m[h] - cm);
        l[h] *= f;
        for (int64_t d = 0; d < head_dim; ++d)
          out[h * head_dim + d] *= f;
        m[h] = cm;
      }
      const __m256 mv = _mm256_set1_ps(m[h]);
      __m256 sum = _mm256_setzero_ps();
      for (int64_t c = 0; c < n8; c += 8) {
        const __m256 p = avx_exp_nonpos_ps(_mm256_sub_ps(_mm256_load_ps(&s[h][c]), mv));
        _mm256_store_ps(&s[h][c], p);
        sum = _mm256_add_ps(sum, p);
      }
      l[h] += avx_hsum_ps(sum);
    }
    /* Weighted values: DB * 8 dimensions of the NH heads in registers while the
     * chunk's keys go by (DB * NH FMA chains). */
    const int DB = NH <= 2 ? 4 : 2; /* DB * NH <= 8 */
    int64_t d = 0;
    for (; d + 8 * DB <= D8; d += 8 * DB) {
      __m256 acc[8];
      for (int h = 0; h < NH; ++h)
        for (int b = 0; b < DB; ++b)
          acc[h * DB + b] = _mm256_loadu_ps(out + h * head_dim + d + 8 * b);
      for (int64_t c = 0; c < n; ++c) {
        const uint16_t *vr = vbase + (j0 + c) * stride + d;
        __m256 p[4];
        for (int h = 0; h < NH; ++h)
          p[h] = _mm256_broadcast_ss(&s[h][c]);
        for (int b = 0; b < DB; ++b) {
          const __m256 v8 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * b)));
          for (int h = 0; h < NH; ++h)
            acc[h * DB + b] = _mm256_fmadd_ps(p[h], v8, acc[h * DB + b]);
        }
      }
      for (int h = 0; h < NH; ++h)
        for (int b = 0; b < DB; ++b)
          _mm256_storeu_ps(out + h * head_dim + d + 8 * b, acc[h * DB + b]);
    }
    for (; d < D8; d += 8) {
      __m256 acc[4];
      for (int h = 0; h < NH; ++h)
        acc[h] = _mm256_loadu_ps(out + h * head_dim + d);
      for (int64_t c = 0; c < n; ++c) {
        const __m256 v8 =
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vbase + (j0 + c) * stride + d)));
        for (int h = 0; h < NH; ++h)
          acc[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(&s[h][c]), v8, acc[h]);
      }
      for (int h = 0; h < NH; ++h)
        _mm256_storeu_ps(out + h * head_dim + d, acc[h]);
    }
    for (int64_t d = D8; d < head_dim; ++d)
      for (int64_t c = 0; c < n; ++c) {
        const float v = avx_fp16(vbase[(j0 + c) * stride + d]);
        for (int h = 0; h < NH; ++h)
          out[h * head_dim + d] += s[h][c] * v;
      }
  }
}

#ifndef MILM_UK_HAVE_attention_f16kv
#define MILM_UK_HAVE_attention_f16kv 1
void MILM_UK_FN(attention_f16kv)(const float *q, int64_t ldq, const float *k, int64_t ldk,
                                 const float *v, int64_t ldv, uint16_t *k_cache,
                                 uint16_t *v_cache, float *out, int64_t ldo,
                                 const int32_t *pos, int64_t T, int64_t n_heads,
                                 int64_t n_kv_heads, int64_t head_dim, float scale,
                                 int64_t h_begin, int64_t h_end) {
  if (h_begin >= h_end)
    return;
  const int64_t group = n_heads / n_kv_heads;
  if (k && v)
    MILM_UK_FN(kv_append_f16)(k, ldk, v, ldv, k_cache, v_cache, pos, T, n_kv_heads, head_dim,
                              h_begin / group, (h_end - 1) / group + 1);
  /* Positions outermost (a chunk of 64 positions of every kv head in the range
   * is read while it sits in L2: the cache layout interleaves kv heads, so one
   * kv head's rows alone are a strided, TLB-unfriendly walk), heads in batches
   * of up to 64 whose running softmax state lives on the stack. */
  enum { HB = 64 };
  float m[HB], l[HB];
  const int64_t stride = n_kv_heads * head_dim;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t last = pos[t];
    for (int64_t hb = h_begin; hb < h_end; hb += HB) {
      const int64_t he = hb + HB < h_end ? hb + HB : h_end;
      for (int64_t h = hb; h < he; ++h) {
        m[h - hb] = -__builtin_inff();
        l[h - hb] = 0.0f;
      }
      for (int64_t d = hb * head_dim; d < he * head_dim; ++d)
        out[t * ldo + d] = 0.0f;
      for (int64_t j0 = 0; j0 <= last; j0 += UK_ATT_CHUNK) {
        const int64_t n = last + 1 - j0 < UK_ATT_CHUNK ? last + 1 - j0 : UK_ATT_CHUNK;
        int64_t h = hb;
        while (h < he) {
          /* Up to four heads that share a kv head. */
          const int64_t g = h / group;
          int64_t nh = (g + 1) * group - h;
          nh = nh < he - h ? nh : he - h;
          nh = nh < 4 ? nh : 4;
          const float *qh = q + t * ldq + h * head_dim;
          float *oh = out + t * ldo + h * head_dim;
          const uint16_t *kb = k_cache + g * head_dim, *vb = v_cache + g * head_dim;
          float *mh = m + (h - hb), *lh = l + (h - hb);
#define UK_ATT_CALL(NH)                                                                \
  avx_attend_chunk(qh, oh, head_dim, kb, vb, stride, j0, n, scale, mh, lh, NH)
          switch (nh) {
          case 4: UK_ATT_CALL(4); break;
          case 3: UK_ATT_CALL(3); break;
          case 2: UK_ATT_CALL(2); break;
          default: UK_ATT_CALL(1); break;
          }
#undef UK_ATT_CALL
          h += nh;
        }
      }
      for (int64_t h = hb; h < he; ++h) {
        const float inv = l[h - hb] > 0.0f ? 1.0f / l[h - hb] : 0.0f;
        float *oh = out + t * ldo + h * head_dim;
        for (int64_t d = 0; d < head_dim; ++d)
          oh[d] *= inv;
      }
    }
  }
}
#endif

/*---- the rest: portable C -----------------------------------------------------------*/

#include "ukernels_generic.inc"
