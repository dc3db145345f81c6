/*===- ukernels_avx512.c - x86-64 microkernels: AVX-512 (F BW VL DQ VNNI) --===*
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma
 * -mf16c (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4 and later). The products
 * of every quantized format and of f32/f16 use 512-bit vectors; everything else
 * (activation quantizers, bf16, KV append, attention) is the AVX2 code, included
 * below and compiled with these flags, and then the generic C.
 *
 * 32-value formats: two blocks per vector. AVX-512 has no vpsignb, so the
 * weights are made unsigned (q4_0: q - 8 + 8, q5_0: + 16, q8_0: + 128) and
 * VNNI's vpdpbusd (u8 x i8, four products per i32, no saturation) does the dot
 * product; a second vpdpbusd of the offset with the activations takes the
 * offset out again, exactly, in i32:
 *   d_w d_x (sum q_u a - off * sum a)  [+ m_w d_x sum a for q4_1/q5_1].
 * K formats: vpmaddubsw then vpdpwssd with the sub-block scales as i16.
 *
 * Status: compiled (host library and bitcode) but never executed: neither the
 * development machine nor qemu-x86_64 7.2 has AVX-512. UKernelTest runs the same
 * checks on it as on the AVX2 code wherever the CPU has AVX-512 F/BW/VL/DQ/VNNI,
 * and skips them, saying so, elsewhere.
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

#include <immintrin.h>

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) ||                   \
    !defined(__AVX512DQ__) || !defined(__AVX512VNNI__) || !defined(__FMA__) || !defined(__F16C__)
#error                                                                                             \
    "ukernels_avx512.c needs -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c"
#endif

#define UK_AI static inline __attribute__((always_inline))

UK_AI float z_fp16(uint16_t h) { return _cvtsh_ss(h); }

/*---- 32-value formats ---------------------------------------------------------------*/

/* Two blocks' packed nibbles -> 64 bytes in value order: block 0's values 0..31
 * (low nibbles, then high), then block 1's. */
UK_AI __m512i z_nibbles2(const uint8_t *qs0, const uint8_t *qs1) {
  const __m256i raw = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)qs1),
                                       _mm_loadu_si128((const __m128i *)qs0));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_and_si256(raw, m4);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
  return _mm512_permutex2var_epi64(_mm512_castsi256_si512(lo),
                                   _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11),
                                   _mm512_castsi256_si512(hi));
}
UK_AI __m256i z_nibbles1(const uint8_t *qs) {
  const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}
/* Bit j of a q5 block's little-endian qh -> 0x10 in byte j (mask compare). */
UK_AI __m256i z_q5_high(const uint8_t *qh4) {
  uint32_t qh;
  __builtin_memcpy(&qh, qh4, 4);
  return _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(0x10));
}
UK_AI __m512i z_join(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

UK_AI __m256i z_w1_q4_0(const uk_block_q4_0 *b) { return z_nibbles1(b->qs); }
UK_AI __m512i z_w2_q4_0(const uk_block_q4_0 *b) { return z_nibbles2(b[0].qs, b[1].qs); }
UK_AI __m256i z_w1_q4_1(const uk_block_q4_1 *b) { return z_nibbles1(b->qs); }
UK_AI __m512i z_w2_q4_1(const uk_block_q4_1 *b) { return z_nibbles2(b[0].qs, b[1].qs); }
UK_AI __m256i z_w1_q5_0(const uk_block_q5_0 *b) {
  return _mm256_or_si256(z_nibbles1(b->qs), z_q5_high(b->qh));
}
UK_AI __m512i z_w2_q5_0(const uk_block_q5_0 *b) {
  return _mm512_or_si512(z_nibbles2(b[0].qs, b[1].qs),
                         z_join(z_q5_high(b[0].qh), z_q5_high(b[1].qh)));
}
UK_AI __m256i z_w1_q5_1(const uk_block_q5_1 *b) {
  return _mm256_or_si256(z_nibbles1(b->qs), z_q5_high(b->qh));
}
UK_AI __m512i z_w2_q5_1(const uk_block_q5_1 *b) {
  return _mm512_or_si512(z_nibbles2(b[0].qs, b[1].qs),
                         z_join(z_q5_high(b[0].qh), z_q5_high(b[1].qh)));
}
UK_AI __m256i z_w1_q8_0(const uk_block_q8_0 *b) {
  return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}
UK_AI __m512i z_w2_q8_0(const uk_block_q8_0 *b) {
  return _mm512_xor_si512(z_join(_mm256_loadu_si256((const __m256i *)b[0].qs),
                                 _mm256_loadu_si256((const __m256i *)b[1].qs)),
                          _mm512_set1_epi8((char)0x80));
}

#define UK_Z_MIN_NONE(blk) 0.0f
#define UK_Z_MIN_M(blk) z_fp16((blk).m)

/* One weight row against NT (1..4) tokens. OFF: the unsigned weights' offset;
 * MINF(block): the block's min (0 for the symmetric formats). */
#define UK_Z_Q32_KERNEL(NAME, fmt, OFF, MINF)                                          \
  UK_AI void NAME(const uk_block_##fmt *wr, const milm_uk_block_q8_32 *X, int64_t nb,   \
                  float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {        \
    __m512 acc[4];                                                                     \
    float corr[4];                                                                     \
    const __m512i offv = _mm512_set1_epi8((char)(OFF));                                \
    for (int u = 0; u < NT; ++u) {                                                     \
      acc[u] = _mm512_setzero_ps();                                                    \
      corr[u] = 0.0f;                                                                  \
    }                                                                                  \
    int64_t b = 0;                                                                     \
    for (; b + 2 <= nb; b += 2) {                                                      \
      const __m512i w = z_w2_##fmt(wr + b);                                            \
      const float d0 = z_fp16(wr[b].d), d1 = z_fp16(wr[b + 1].d);                      \
      const float m0 = MINF(wr[b]), m1 = MINF(wr[b + 1]);                              \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        const __m512i a = z_join(_mm256_loadu_si256((const __m256i *)xb[0].qs),        \
                                 _mm256_loadu_si256((const __m256i *)xb[1].qs));       \
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, a);                 \
        if (OFF)                                                                       \
          p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), offv, a)); \
        const float s0 = d0 * xb[0].d, s1 = d1 * xb[1].d;                              \
        const __m512 sc = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(s0), _mm512_set1_ps(s1)); \
        acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[u]);                   \
        corr[u] += m0 * xb[0].d * (float)xb[0].sum + m1 * xb[1].d * (float)xb[1].sum;  \
      }                                                                                \
    }                                                                                  \
    if (b < nb) {                                                                      \
      const __m512i w = _mm512_zextsi256_si512(z_w1_##fmt(wr + b));                    \
      const float d0 = z_fp16(wr[b].d), m0 = MINF(wr[b]);                              \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)xb->qs)); \
        __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, a);                 \
        if (OFF)                                                                       \
          p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), offv, a)); \
        acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(d0 * xb->d), acc[u]); \
        corr[u] += m0 * xb->d * (float)xb->sum;                                        \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = _mm512_reduce_add_ps(acc[u]) + corr[u];                  \
  }
UK_Z_Q32_KERNEL(z_rows_q4_0, q4_0, 8, UK_Z_MIN_NONE)
UK_Z_Q32_KERNEL(z_rows_q4_1, q4_1, 0, UK_Z_MIN_M)
UK_Z_Q32_KERNEL(z_rows_q5_0, q5_0, 16, UK_Z_MIN_NONE)
UK_Z_Q32_KERNEL(z_rows_q5_1, q5_1, 0, UK_Z_MIN_M)
UK_Z_Q32_KERNEL(z_rows_q8_0, q8_0, 128, UK_Z_MIN_NONE)

#define UK_Z_TOKEN_LOOP(KERNEL, WR, X, NB, Y, LDY, T, O)                               \
  do {                                                                                 \
    int64_t t0_ = 0;                                                                   \
    for (; t0_ + 4 <= (T); t0_ += 4)                                                   \
      KERNEL(WR, X, NB, Y, LDY, t0_, O, 4);                                            \
    switch ((T) - t0_) {                                                               \
    case 3: KERNEL(WR, X, NB, Y, LDY, t0_, O, 3); break;                               \
    case 2: KERNEL(WR, X, NB, Y, LDY, t0_, O, 2); break;                               \
    case 1: KERNEL(WR, X, NB, Y, LDY, t0_, O, 1); break;                               \
    default: break;                                                                    \
    }                                                                                  \
  } while (0)

#define UK_Z_MATMUL_Q8(fmt, QK, ABLK)                                                  \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,          \
                                     int64_t ldy, int64_t T, int64_t K,                \
                                     int64_t o_begin, int64_t o_end) {                 \
    const int64_t nb = K / (QK);                                                       \
    const uk_block_##fmt *W = (const uk_block_##fmt *)w;                               \
    const ABLK *X = (const ABLK *)xq;                                                  \
    for (int64_t o = o_begin; o < o_end; ++o)                                          \
      UK_Z_TOKEN_LOOP(z_rows_##fmt, W + o * nb, X, nb, y, ldy, T, o);                  \
  }
#define MILM_UK_HAVE_matmul_q4_0_q8 1
UK_Z_MATMUL_Q8(q4_0, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q4_1_q8 1
UK_Z_MATMUL_Q8(q4_1, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_0_q8 1
UK_Z_MATMUL_Q8(q5_0, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_1_q8 1
UK_Z_MATMUL_Q8(q5_1, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q8_0_q8 1
UK_Z_MATMUL_Q8(q8_0, UK_QK, milm_uk_block_q8_32)

/*---- q4_k and q5_k ------------------------------------------------------------------*/

/* Per 64-value chunk c: 64 weights (sub-blocks 2c and 2c + 1) against 64
 * activations, pairs summed by vpmaddubsw, then scaled and accumulated by
 * vpdpwssd with [sc(2c) x 16, sc(2c+1) x 16]. */
#define UK_Z_QK4_KERNEL(NAME, fmt, HIGH5)                                                          \
  UK_AI void NAME(const uk_block_##fmt *wr, const milm_uk_block_q8_k *X, int64_t nb, float *y,     \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                              \
    float accf[4] = {0, 0, 0, 0};                                                                  \
    const __m256i m4 = _mm256_set1_epi8(0x0F);                                                     \
    for (int64_t b = 0; b < nb; ++b) {                                                             \
      const uk_block_##fmt *wb = wr + b;                                                           \
      int sc[8], mn[8];                                                                            \
      for (int j = 0; j < 8; ++j)                                                                  \
        uk_scale_min_k4(j, wb->scales, &sc[j], &mn[j]);                                            \
      const __m256i mins = _mm256_setr_epi16(                                                      \
          (short)mn[0], (short)mn[0], (short)mn[1], (short)mn[1], (short)mn[2], (short)mn[2],      \
          (short)mn[3], (short)mn[3], (short)mn[4], (short)mn[4], (short)mn[5], (short)mn[5],      \
          (short)mn[6], (short)mn[6], (short)mn[7], (short)mn[7]);                                 \
      __m512i sumi[4];                                                                             \
      for (int u = 0; u < NT; ++u)                                                                 \
        sumi[u] = _mm512_setzero_si512();                                                          \
      for (int c = 0; c < 4; ++c) {                                                                \
        const __m256i q = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * c));                  \
        __m256i lo = _mm256_and_si256(q, m4);                                                      \
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                                \
        HIGH5(c, lo, hi);                                                                          \
        const __m512i w = z_join(lo, hi);                                                          \
        const __m512i s =                                                                          \
            z_join(_mm256_set1_epi16((short)sc[2 * c]), _mm256_set1_epi16((short)sc[2 * c + 1]));  \
        for (int u = 0; u < NT; ++u) {                                                             \
          const __m512i a = _mm512_loadu_si512(X[(t0 + u) * nb + b].qs + 64 * c);                  \
          sumi[u] = _mm512_dpwssd_epi32(sumi[u], _mm512_maddubs_epi16(w, a), s);                   \
        }                                                                                          \
      }                                                                                            \
      const float d = z_fp16(wb->d), dmin = z_fp16(wb->dmin);                                      \
      for (int u = 0; u < NT; ++u) {                                                               \
        const milm_uk_block_q8_k *xb = X + (t0 + u) * nb + b;                                      \
        const __m256i pm =                                                                         \
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), mins);               \
        const __m128i pm4 =                                                                        \
            _mm_add_epi32(_mm256_castsi256_si128(pm), _mm256_extracti128_si256(pm, 1));            \
        const int32_t summ = _mm_cvtsi128_si32(pm4) + _mm_extract_epi32(pm4, 1) +                  \
                             _mm_extract_epi32(pm4, 2) + _mm_extract_epi32(pm4, 3);                \
        accf[u] += xb->d * (d * (float)_mm512_reduce_add_epi32(sumi[u]) - dmin * (float)summ);     \
      }                                                                                            \
    }                                                                                              \
    for (int u = 0; u < NT; ++u)                                                                   \
      y[(t0 + u) * ldy + o] = accf[u];                                                             \
  }
#define UK_Z_NO_HIGH5(c, lo, hi) ((void)0)
#define UK_Z_Q5K_HIGH5(c, lo, hi)                                                                  \
  do {                                                                                             \
    const __m256i qh_ = _mm256_loadu_si256((const __m256i *)wb->qh);                               \
    const __m256i one_ = _mm256_set1_epi8(1);                                                      \
    const __m128i sh0_ = _mm_cvtsi32_si128(2 * (c)), sh1_ = _mm_cvtsi32_si128(2 * (c) + 1);        \
    lo = _mm256_or_si256(                                                                          \
        lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh_, sh0_), one_), 4));            \
    hi = _mm256_or_si256(                                                                          \
        hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh_, sh1_), one_), 4));            \
  } while (0)
UK_Z_QK4_KERNEL(z_rows_q4_k, q4_k, UK_Z_NO_HIGH5)
UK_Z_QK4_KERNEL(z_rows_q5_k, q5_k, UK_Z_Q5K_HIGH5)
#define MILM_UK_HAVE_matmul_q4_k_q8 1
UK_Z_MATMUL_Q8(q4_k, UK_QK_K, milm_uk_block_q8_k)
#define MILM_UK_HAVE_matmul_q5_k_q8 1
UK_Z_MATMUL_Q8(q5_k, UK_QK_K, milm_uk_block_q8_k)

/*---- q6_k -------------------------------------------------------------------------*/

/* Half n of a block: 64 bytes of ql and 32 of qh make the four 32-value groups
 * k = 0..3 (ql low nibbles, ql+32 low, ql high, ql+32 high; qh bits 2k, 2k+1);
 * groups 0,1 and 2,3 are each one vector matching 64 consecutive activations,
 * and each 16 values have their own scale. */
UK_AI void z_rows_q6_k(const uk_block_q6_k *wr, const milm_uk_block_q8_k *X, int64_t nb,
                       float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  float accf[4] = {0, 0, 0, 0};
  const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x03);
  /* Shift counts per 16-bit lane: groups 0/1 take qh >> 0 / >> 2, 2/3 >> 4 / >> 6. */
  const __m512i sh01 = z_join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
  const __m512i sh23 = z_join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
  /* Lane i of the i16 scale vector for quarter r takes scale 4r + i / 8. */
  __m512i sidx[4];
  for (int r = 0; r < 4; ++r) {
    short ix[32];
    for (int i = 0; i < 32; ++i)
      ix[i] = (short)(4 * r + i / 8);
    sidx[r] = _mm512_loadu_si512(ix);
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q6_k *wb = wr + b;
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb->scales));
    const __m512i sc16z = _mm512_castsi256_si512(sc16);
    __m512i sumi[4];
    for (int u = 0; u < NT; ++u)
      sumi[u] = _mm512_setzero_si512();
    for (int n = 0; n < 2; ++n) {
      const __m512i ql = _mm512_loadu_si512(wb->ql + 64 * n);
      const __m512i qh =
          _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb->qh + 32 * n)));
      const __m512i w01 =
          _mm512_or_si512(_mm512_and_si512(ql, m4),
                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh01), m3), 4));
      const __m512i w23 = _mm512_or_si512(
          _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh23), m3), 4));
      const __m512i s01 = _mm512_permutexvar_epi16(sidx[2 * n], sc16z);
      const __m512i s23 = _mm512_permutexvar_epi16(sidx[2 * n + 1], sc16z);
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs + 128 * n;
        sumi[u] =
            _mm512_dpwssd_epi32(sumi[u], _mm512_maddubs_epi16(w01, _mm512_loadu_si512(a)), s01);
        sumi[u] = _mm512_dpwssd_epi32(sumi[u],
                                      _mm512_maddubs_epi16(w23, _mm512_loadu_si512(a + 64)), s23);
      }
    }
    const float d = z_fp16(wb->d);
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_k *xb = X + (t0 + u) * nb + b;
      const __m256i c = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), sc16);
      const int32_t corr = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(c));
      accf[u] += d * xb->d * (float)(_mm512_reduce_add_epi32(sumi[u]) - 32 * corr);
    }
  }
  for (int u = 0; u < NT; ++u)
    y[(t0 + u) * ldy + o] = accf[u];
}
#define MILM_UK_HAVE_matmul_q6_k_q8 1
UK_Z_MATMUL_Q8(q6_k, UK_QK_K, milm_uk_block_q8_k)

/*---- f32 and f16 --------------------------------------------------------------------*/

UK_AI __m512 z_load16_f32(const float *p) { return _mm512_loadu_ps(p); }
UK_AI __m512 z_load16_f16(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
UK_AI __m512 z_loadn_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
UK_AI __m512 z_loadn_f16(const uint16_t *p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

#define UK_Z_FLOAT_KERNEL(NAME, WTYPE, LOAD16, LOADN)                                              \
  UK_AI void NAME(const WTYPE *wr, const float *x, int64_t ldx, int64_t K, float *y, int64_t ldy,  \
                  int64_t t0, int64_t o, const int NT) {                                           \
    __m512 acc[4][2];                                                                              \
    for (int u = 0; u < NT; ++u)                                                                   \
      acc[u][0] = acc[u][1] = _mm512_setzero_ps();                                                 \
    int64_t i = 0;                                                                                 \
    for (; i + 32 <= K; i += 32) {                                                                 \
      const __m512 w0 = LOAD16(wr + i), w1 = LOAD16(wr + i + 16);                                  \
      for (int u = 0; u < NT; ++u) {                                                               \
        const float *xt = x + (t0 + u) * ldx + i;                                                  \
        acc[u][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), acc[u][0]);                           \
        acc[u][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), acc[u][1]);                      \
      }                                                                                            \
    }                                                                                              \
    for (; i < K; i += 16) {                                                                       \
      const int64_t r = K - i < 16 ? K - i : 16;                                                   \
      const __mmask16 m = (__mmask16)((1u << r) - 1u);                                             \
      const __m512 w0 = LOADN(wr + i, m);                                                          \
      for (int u = 0; u < NT; ++u)                                                                 \
        acc[u][0] =                                                                                \
            _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + (t0 + u) * ldx + i), acc[u][0]);      \
    }                                                                                              \
    for (int u = 0; u < NT; ++u)                                                                   \
      y[(t0 + u) * ldy + o] = _mm512_reduce_add_ps(_mm512_add_ps(acc[u][0], acc[u][1]));           \
  }
UK_Z_FLOAT_KERNEL(z_rows_f32, float, z_load16_f32, z_loadn_f32)
UK_Z_FLOAT_KERNEL(z_rows_f16, uint16_t, z_load16_f16, z_loadn_f16)

#define UK_Z_MATMUL_FLOAT(fmt, WTYPE)                                                  \
  void MILM_UK_FN(matmul_##fmt)(const void *w, const float *x, int64_t ldx, float *y,  \
                                int64_t ldy, int64_t T, int64_t K, int64_t o_begin,    \
                                int64_t o_end, void *scratch) {                        \
    (void)scratch;                                                                     \
    const WTYPE *W = (const WTYPE *)w;                                                 \
    for (int64_t o = o_begin; o < o_end; ++o) {                                        \
      int64_t t0 = 0;                                                                  \
      for (; t0 + 4 <= T; t0 += 4)                                                     \
        z_rows_##fmt(W + o * K, x, ldx, K, y, ldy, t0, o, 4);                          \
      switch (T - t0) {                                                                \
      case 3: z_rows_##fmt(W + o * K, x, ldx, K, y, ldy, t0, o, 3); break;             \
      case 2: z_rows_##fmt(W + o * K, x, ldx, K, y, ldy, t0, o, 2); break;             \
      case 1: z_rows_##fmt(W + o * K, x, ldx, K, y, ldy, t0, o, 1); break;             \
      default: break;                                                                  \
      }                                                                                \
    }                                                                                  \
  }
#define MILM_UK_HAVE_matmul_f32 1
UK_Z_MATMUL_FLOAT(f32, float)
#define MILM_UK_HAVE_matmul_f16 1
UK_Z_MATMUL_FLOAT(f16, uint16_t)

/*---- the rest: the AVX2 code (then the generic C) ----------------------------------*/

/* 32 vector registers: the packed (x8) kernels take 8 tokens per pass over a
 * weight block instead of 4, and VNNI's vpdpbusd (see UK_X8_VNNI there). */
#define UK_X8_NT 8
/* q4_0x8, q8_0x8, q4_g64x8, q4_g128x8 and q4_g256x8: two row groups per pass in 512-bit
 * vectors (below). */
#define MILM_UK_HAVE_matmul_q4_0x8_q8 1
#define MILM_UK_HAVE_matmul_q8_0x8_q8 1
#define MILM_UK_HAVE_matmul_q4_g128x8_q8 1
#define MILM_UK_HAVE_matmul_q4_g256x8_q8 1
#define MILM_UK_HAVE_matmul_q4_g64x8_q8 1

#include "ukernels_avx2.c"

/*---- q4_0x8 and q8_0x8: two row groups per pass -----------------------------------*/

/* Groups g and g + 1 of a packed layout are 16 consecutive rows: one 512-bit
 * vector holds the same 32 bytes of both groups' blocks (the low half g's),
 * the token's 4 activation bytes broadcast to all 16 lanes, and one vpdpbusd
 * does the work of two 256-bit ones; the 16 outputs are contiguous. Each lane
 * does exactly the integer and float operations of the one-group kernel (AVX2
 * file, UK_X8_VNNI), so outputs are the same bit for bit; a range with an odd
 * number of groups ends with that kernel. */
UK_AI __m512i z_pair256(const void *g0, const void *g1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)g0)),
                            _mm256_loadu_si256((const __m256i *)g1), 1);
}
UK_AI __m512 z_pair_scales(const uint16_t *d0, const uint16_t *d1) {
  return _mm512_cvtph_ps(_mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)d0)),
      _mm_loadu_si128((const __m128i *)d1), 1));
}
UK_AI __m512i z_bcast4(const int8_t *p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
UK_AI void z_group2_store(float *y, int64_t ldy, int64_t t0, int64_t o, const __m512 *acc,
                          const int NT) {
  for (int u = 0; u < NT; ++u)
    _mm512_storeu_ps(y + (t0 + u) * ldy + o, acc[u]);
}

UK_AI void z_group2_q8_0x8(const uk_block_q8_0x8 *wg, const milm_uk_block_q8_32 *X, int64_t nb,
                           float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  __m512 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q8_0x8 *w0 = wg + b, *w1 = wg + nb + b;
    avx_prefetch(w0, 5);
    avx_prefetch(w1, 5);
    __m512i s[UK_X8_NT];
    for (int u = 0; u < NT; ++u)
      s[u] = _mm512_setzero_si512();
    for (int v = 0; v < 8; ++v) {
      const __m512i wu = _mm512_xor_si512(z_pair256(w0->qs + 32 * v, w1->qs + 32 * v),
                                          _mm512_set1_epi8((char)0x80));
      for (int u = 0; u < NT; ++u)
        s[u] = _mm512_dpbusd_epi32(s[u], wu, z_bcast4(X[(t0 + u) * nb + b].qs + 4 * v));
    }
    const __m512 dw = z_pair_scales(w0->d, w1->d);
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_32 *a = X + (t0 + u) * nb + b;
      const __m512i h = _mm512_sub_epi32(s[u], _mm512_set1_epi32(128 * a->sum));
      acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(h), _mm512_mul_ps(dw, _mm512_set1_ps(a->d)),
                               acc[u]);
    }
  }
  z_group2_store(y, ldy, t0, o, acc, NT);
}

UK_AI void z_group2_q4_0x8(const uk_block_q4_0x8 *wg, const milm_uk_block_q8_32 *X, int64_t nb,
                           float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512 acc[UK_X8_NT];
  for (int u = 0; u < NT; ++u)
    acc[u] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q4_0x8 *w0 = wg + b, *w1 = wg + nb + b;
    avx_prefetch(w0, 3);
    avx_prefetch(w1, 3);
    __m512i p[UK_X8_NT];
    for (int u = 0; u < NT; ++u)
      p[u] = _mm512_setzero_si512();
    for (int v = 0; v < 4; ++v) {
      const __m512i q = z_pair256(w0->qs + 32 * v, w1->qs + 32 * v);
      const __m512i lo = _mm512_and_si512(q, m4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
      for (int u = 0; u < NT; ++u) {
        const int8_t *a = X[(t0 + u) * nb + b].qs;
        p[u] = _mm512_dpbusd_epi32(p[u], lo, z_bcast4(a + 4 * v));
        p[u] = _mm512_dpbusd_epi32(p[u], hi, z_bcast4(a + 16 + 4 * v));
      }
    }
    const __m512 dw = z_pair_scales(w0->d, w1->d);
    for (int u = 0; u < NT; ++u) {
      const milm_uk_block_q8_32 *a = X + (t0 + u) * nb + b;
      const __m512i h = _mm512_sub_epi32(p[u], _mm512_set1_epi32(8 * a->sum));
      acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(h), _mm512_mul_ps(dw, _mm512_set1_ps(a->d)),
                               acc[u]);
    }
  }
  z_group2_store(y, ldy, t0, o, acc, NT);
}

/* q4_g128x8 / q4_g256x8: each sub-block as z_group2_q4_0x8 does a block, its
 * integer sums times the activation's scale into the block's 16 lanes, then
 * those times the 16 rows' weight scales: per lane, the one-group kernel's
 * operations (AVX2 file, UK_X8_VNNI), so the same outputs bit for bit. */
#define UK_Z_GROUP2_Q4_GROUPS(LAYOUT, S)                                               \
  UK_AI void z_group2_##LAYOUT(const uk_block_##LAYOUT *wg, const milm_uk_block_q8_32 *X,  \
                               int64_t nb, float *y, int64_t ldy, int64_t t0, int64_t o, \
                               const int NT) {                                         \
    const __m512i m4 = _mm512_set1_epi8(0x0f);                                         \
    __m512 acc[UK_X8_NT];                                                              \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u] = _mm512_setzero_ps();                                                    \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      const uk_block_##LAYOUT *w0 = wg + b, *w1 = wg + nb + b;                         \
      __m512 bacc[UK_X8_NT];                                                           \
      for (int u = 0; u < NT; ++u)                                                     \
        bacc[u] = _mm512_setzero_ps();                                                 \
      for (int v = 0; v < (S); ++v) {                                                  \
        avx_prefetch(w0->qs + 128 * v, 2);                                             \
        avx_prefetch(w1->qs + 128 * v, 2);                                             \
        __m512i p[UK_X8_NT];                                                           \
        for (int u = 0; u < NT; ++u)                                                   \
          p[u] = _mm512_setzero_si512();                                               \
        for (int c = 0; c < 4; ++c) {                                                  \
          const __m512i q = z_pair256(w0->qs + 128 * v + 32 * c, w1->qs + 128 * v + 32 * c); \
          const __m512i lo = _mm512_and_si512(q, m4);                                  \
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);            \
          for (int u = 0; u < NT; ++u) {                                               \
            const int8_t *a = X[((t0 + u) * nb + b) * (S) + v].qs;                     \
            p[u] = _mm512_dpbusd_epi32(p[u], lo, z_bcast4(a + 4 * c));                 \
            p[u] = _mm512_dpbusd_epi32(p[u], hi, z_bcast4(a + 16 + 4 * c));            \
          }                                                                            \
        }                                                                              \
        for (int u = 0; u < NT; ++u) {                                                 \
          const milm_uk_block_q8_32 *a = X + ((t0 + u) * nb + b) * (S) + v;            \
          const __m512i h = _mm512_sub_epi32(p[u], _mm512_set1_epi32(8 * a->sum));     \
          bacc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(h), _mm512_set1_ps(a->d), bacc[u]); \
        }                                                                              \
      }                                                                                \
      const __m512 dw = z_pair_scales(w0->d, w1->d);                                   \
      for (int u = 0; u < NT; ++u)                                                     \
        acc[u] = _mm512_fmadd_ps(bacc[u], dw, acc[u]);                                 \
    }                                                                                  \
    z_group2_store(y, ldy, t0, o, acc, NT);                                            \
  }
UK_Z_GROUP2_Q4_GROUPS(q4_g128x8, 4)
UK_Z_GROUP2_Q4_GROUPS(q4_g256x8, 8)
UK_Z_GROUP2_Q4_GROUPS(q4_g64x8, 2)

/* By token chunks (avx_token_chunk), pairs of groups, then a last single one.
 * A weight block of QK values reads QK / 32 activation blocks (ABLK). */
#define UK_Z_MATMUL_X8_PAIRS(LAYOUT, QK, ABLK)                                          \
  void MILM_UK_FN(matmul_##LAYOUT##_q8)(const void *w, const void *xq, float *y,       \
                                        int64_t ldy, int64_t T, int64_t K,             \
                                        int64_t o_begin, int64_t o_end) {              \
    const int64_t nb = K / (QK);                                                       \
    const uk_block_##LAYOUT *W = (const uk_block_##LAYOUT *)w;                         \
    const ABLK *X = (const ABLK *)xq;                                                  \
    const int64_t tc = avx_token_chunk((size_t)nb * ((QK) / 32) * sizeof(ABLK));       \
    for (int64_t ts = 0; ts < T; ts += tc) {                                           \
      const int64_t te = ts + tc < T ? ts + tc : T;                                    \
      int64_t o = o_begin;                                                             \
      for (; o + 16 <= o_end; o += 16)                                                 \
        UK_AVX2_TOKEN_LOOP_X8(z_group2_##LAYOUT, W + (o / 8) * nb, X, nb, y, ldy, ts,  \
                              te, o);                                                  \
      for (; o < o_end; o += 8)                                                        \
        UK_AVX2_TOKEN_LOOP_X8(avx_group_##LAYOUT, W + (o / 8) * nb, X, nb, y, ldy, ts, \
                              te, o);                                                  \
    }                                                                                  \
  }
UK_Z_MATMUL_X8_PAIRS(q4_0x8, UK_QK, milm_uk_block_q8_32)
UK_Z_MATMUL_X8_PAIRS(q8_0x8, UK_QK, milm_uk_block_q8_32)
UK_Z_MATMUL_X8_PAIRS(q4_g128x8, 128, milm_uk_block_q8_32)
UK_Z_MATMUL_X8_PAIRS(q4_g256x8, 256, milm_uk_block_q8_32)
UK_Z_MATMUL_X8_PAIRS(q4_g64x8, 64, milm_uk_block_q8_32)
