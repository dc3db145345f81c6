/*===- ukernels_neon.c - AArch64 microkernels: NEON dotprod (+ i8mm) -------===*
 *
 * Built twice: with -march=armv8.2-a+dotprod (SDOT, vdotq_s32) and with
 * -march=armv8.6-a+dotprod+i8mm, where the q4_0 and q8_0 products of two or more
 * tokens use SMMLA (vmmlaq_s32: a 2x8 by 8x2 i8 product into 2x2 i32) on pairs
 * of weight rows and pairs of tokens. Accelerates the activation quantizers and
 * the products of every weight format; everything else (rope, attention, ...)
 * comes from the generic C (included at the end, see
 * generic/ukernels_generic.inc).
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

#include <arm_neon.h>

#if !defined(__ARM_FEATURE_DOTPROD)
#error "ukernels_neon.c needs the dotprod extension (-march=armv8.2-a+dotprod)"
#endif

#define UK_AI static inline __attribute__((always_inline))

/*---- activation quantization --------------------------------------------------*/

UK_AI float neon_absmax(const float *x, int n) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int j = 0; j < n; j += 4)
    m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
  return vmaxvq_f32(m);
}

/* 16 floats * id -> 16 bytes, rounded to nearest even and clamped to +-127 like
 * the generic code; adds the values to *sum. */
UK_AI int8x16_t neon_quantize16(const float *x, float id, int32x4_t *sum) {
  const int32x4_t lo = vdupq_n_s32(-127), hi = vdupq_n_s32(127);
  int32x4_t i[4];
  for (int k = 0; k < 4; ++k) {
    const int32x4_t v = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id));
    i[k] = vminq_s32(vmaxq_s32(v, lo), hi);
  }
  *sum = vaddq_s32(*sum, vaddq_s32(vaddq_s32(i[0], i[1]), vaddq_s32(i[2], i[3])));
  const int16x8_t h0 = vcombine_s16(vmovn_s32(i[0]), vmovn_s32(i[1]));
  const int16x8_t h1 = vcombine_s16(vmovn_s32(i[2]), vmovn_s32(i[3]));
  return vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
}

#define MILM_UK_HAVE_quantize_q8_32 1
void MILM_UK_FN(quantize_q8_32)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq) {
  milm_uk_block_q8_32 *b = (milm_uk_block_q8_32 *)xq;
  const int64_t nb = K / UK_QK;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < nb; ++i, ++b) {
      const float *xb = x + t * ldx + i * UK_QK;
      const float d = neon_absmax(xb, 32) / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      int32x4_t s = vdupq_n_s32(0);
      vst1q_s8(b->qs, neon_quantize16(xb, id, &s));
      vst1q_s8(b->qs + 16, neon_quantize16(xb + 16, id, &s));
      b->d = d;
      b->sum = vaddvq_s32(s);
    }
}

#define MILM_UK_HAVE_quantize_q8_k 1
void MILM_UK_FN(quantize_q8_k)(const float *x, int64_t ldx, int64_t T, int64_t K, void *xq) {
  milm_uk_block_q8_k *b = (milm_uk_block_q8_k *)xq;
  const int64_t nb = K / UK_QK_K;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < nb; ++i, ++b) {
      const float *xb = x + t * ldx + i * UK_QK_K;
      const float d = neon_absmax(xb, 256) / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int s = 0; s < 16; ++s) {
        int32x4_t sum = vdupq_n_s32(0);
        vst1q_s8(b->qs + 16 * s, neon_quantize16(xb + 16 * s, id, &sum));
        b->bsums[s] = (int16_t)vaddvq_s32(sum);
      }
      b->d = d;
    }
}

/*---- q4_0 and q8_0: SDOT -----------------------------------------------------------*/

/* 16 bytes of q4_0 nibbles as 32 signed weights in two halves (values 0..15,
 * 16..31): q4_0's blocks and each sub-block of q4_g128/q4_g256. */
UK_AI void neon_unpack_q4(const uint8_t *qs, int8x16_t *w0, int8x16_t *w1) {
  const uint8x16_t raw = vld1q_u8(qs);
  const int8x16_t eight = vdupq_n_s8(8);
  *w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), eight);
  *w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
}
UK_AI void neon_load_q4_0(const uk_block_q4_0 *b, int8x16_t *w0, int8x16_t *w1) {
  neon_unpack_q4(b->qs, w0, w1);
}
UK_AI void neon_load_q8_0(const uk_block_q8_0 *b, int8x16_t *w0, int8x16_t *w1) {
  *w0 = vld1q_s8(b->qs);
  *w1 = vld1q_s8(b->qs + 16);
}

/* One weight row against NT (1..4) tokens from t0; the block is unpacked once. */
#define UK_NEON_Q32_DOT_KERNEL(NAME, WBLK, LOADW)                                      \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_32 *X, int64_t nb, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    float32x4_t acc[4];                                                                \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u] = vdupq_n_f32(0.0f);                                                      \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      int8x16_t w0, w1;                                                                \
      LOADW(wr + b, &w0, &w1);                                                         \
      const float dw = uk_fp16_to_fp32(wr[b].d);                                       \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        int32x4_t p = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xb->qs));                 \
        p = vdotq_s32(p, w1, vld1q_s8(xb->qs + 16));                                   \
        acc[u] = vfmaq_n_f32(acc[u], vcvtq_f32_s32(p), dw * xb->d);                    \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = vaddvq_f32(acc[u]);                                      \
  }
UK_NEON_Q32_DOT_KERNEL(neon_rows_q4_0, uk_block_q4_0, neon_load_q4_0)
UK_NEON_Q32_DOT_KERNEL(neon_rows_q8_0, uk_block_q8_0, neon_load_q8_0)

#define UK_NEON_TOKEN_LOOP(KERNEL, WR, X, NB, Y, LDY, TBEGIN, T, O)                    \
  do {                                                                                 \
    int64_t t0_ = (TBEGIN);                                                            \
    for (; t0_ + 4 <= (T); t0_ += 4)                                                   \
      KERNEL(WR, X, NB, Y, LDY, t0_, O, 4);                                            \
    switch ((T) - t0_) {                                                               \
    case 3: KERNEL(WR, X, NB, Y, LDY, t0_, O, 3); break;                               \
    case 2: KERNEL(WR, X, NB, Y, LDY, t0_, O, 2); break;                               \
    case 1: KERNEL(WR, X, NB, Y, LDY, t0_, O, 1); break;                               \
    default: break;                                                                    \
    }                                                                                  \
  } while (0)

#if defined(__ARM_FEATURE_MATMUL_INT8)
/*---- q4_0 and q8_0: SMMLA on 2 rows x 2 tokens --------------------------------------
 * vmmlaq_s32(acc, A, B) adds the 2x2 products of A's two 8-byte rows with B's
 * two 8-byte rows: lanes [a0.b0, a0.b1, a1.b0, a1.b1]. A holds 8 values of
 * weight rows o and o+1, B the same 8 values of tokens t and t+1; four SMMLAs
 * cover a 32-value block. NP token pairs (1 or 2) share the unpacked weights. */
#define UK_NEON_Q32_MMLA_KERNEL(NAME, WBLK, LOADW)                                     \
  UK_AI void NAME(const WBLK *w0r, const WBLK *w1r, const milm_uk_block_q8_32 *X,      \
                  int64_t nb, float *y, int64_t ldy, int64_t t0, int64_t o,            \
                  const int NP) {                                                      \
    float32x4_t acc[2];                                                                \
    for (int p = 0; p < NP; ++p)                                                       \
      acc[p] = vdupq_n_f32(0.0f);                                                      \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      int8x16_t a0, a1, c0, c1; /* row o: a0 a1; row o+1: c0 c1 */                     \
      LOADW(w0r + b, &a0, &a1);                                                        \
      LOADW(w1r + b, &c0, &c1);                                                        \
      const int64x2_t A0 = vreinterpretq_s64_s8(a0), A1 = vreinterpretq_s64_s8(a1);    \
      const int64x2_t C0 = vreinterpretq_s64_s8(c0), C1 = vreinterpretq_s64_s8(c1);    \
      const int8x16_t m0 = vreinterpretq_s8_s64(vzip1q_s64(A0, C0));                   \
      const int8x16_t m1 = vreinterpretq_s8_s64(vzip2q_s64(A0, C0));                   \
      const int8x16_t m2 = vreinterpretq_s8_s64(vzip1q_s64(A1, C1));                   \
      const int8x16_t m3 = vreinterpretq_s8_s64(vzip2q_s64(A1, C1));                   \
      const float dw0 = uk_fp16_to_fp32(w0r[b].d), dw1 = uk_fp16_to_fp32(w1r[b].d);    \
      const float32x4_t dw = vcombine_f32(vdup_n_f32(dw0), vdup_n_f32(dw1));           \
      for (int p = 0; p < NP; ++p) {                                                   \
        const milm_uk_block_q8_32 *x0 = X + (t0 + 2 * p) * nb + b, *x1 = x0 + nb;      \
        const int64x2_t X0 = vreinterpretq_s64_s8(vld1q_s8(x0->qs));                   \
        const int64x2_t X1 = vreinterpretq_s64_s8(vld1q_s8(x0->qs + 16));              \
        const int64x2_t Y0 = vreinterpretq_s64_s8(vld1q_s8(x1->qs));                   \
        const int64x2_t Y1 = vreinterpretq_s64_s8(vld1q_s8(x1->qs + 16));              \
        int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), m0, vreinterpretq_s8_s64(vzip1q_s64(X0, Y0))); \
        s = vmmlaq_s32(s, m1, vreinterpretq_s8_s64(vzip2q_s64(X0, Y0)));               \
        s = vmmlaq_s32(s, m2, vreinterpretq_s8_s64(vzip1q_s64(X1, Y1)));               \
        s = vmmlaq_s32(s, m3, vreinterpretq_s8_s64(vzip2q_s64(X1, Y1)));               \
        float32x2_t dx = vset_lane_f32(x1->d, vdup_n_f32(x0->d), 1);                   \
        const float32x4_t scale = vmulq_f32(dw, vcombine_f32(dx, dx));                 \
        acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(s), scale);                           \
      }                                                                                \
    }                                                                                  \
    for (int p = 0; p < NP; ++p) {                                                     \
      const int64_t t = t0 + 2 * p;                                                    \
      y[t * ldy + o] = vgetq_lane_f32(acc[p], 0);                                      \
      y[(t + 1) * ldy + o] = vgetq_lane_f32(acc[p], 1);                                \
      y[t * ldy + o + 1] = vgetq_lane_f32(acc[p], 2);                                  \
      y[(t + 1) * ldy + o + 1] = vgetq_lane_f32(acc[p], 3);                            \
    }                                                                                  \
  }
UK_NEON_Q32_MMLA_KERNEL(neon_mmla_q4_0, uk_block_q4_0, neon_load_q4_0)
UK_NEON_Q32_MMLA_KERNEL(neon_mmla_q8_0, uk_block_q8_0, neon_load_q8_0)

/* Pairs of rows x pairs of tokens with SMMLA; an odd last row or token with SDOT. */
#define UK_NEON_Q32_MATMUL(MMLA, DOTK, WBLK, W, X, NB, Y, LDY, T, OB, OE)              \
  do {                                                                                 \
    const int64_t Teven = (T) & ~(int64_t)1;                                           \
    int64_t o = (OB);                                                                  \
    if (Teven > 0) {                                                                   \
      for (; o + 2 <= (OE); o += 2) {                                                  \
        int64_t t0 = 0;                                                                \
        for (; t0 + 4 <= Teven; t0 += 4)                                               \
          MMLA(W + o * NB, W + (o + 1) * NB, X, NB, Y, LDY, t0, o, 2);                 \
        if (t0 < Teven)                                                                \
          MMLA(W + o * NB, W + (o + 1) * NB, X, NB, Y, LDY, t0, o, 1);                 \
        if (Teven < (T)) {                                                             \
          DOTK(W + o * NB, X, NB, Y, LDY, Teven, o, 1);                                \
          DOTK(W + (o + 1) * NB, X, NB, Y, LDY, Teven, o + 1, 1);                      \
        }                                                                              \
      }                                                                                \
    }                                                                                  \
    for (; o < (OE); ++o)                                                              \
      UK_NEON_TOKEN_LOOP(DOTK, W + o * NB, X, NB, Y, LDY, 0, T, o);                    \
  } while (0)
#else
#define UK_NEON_Q32_MATMUL(MMLA, DOTK, WBLK, W, X, NB, Y, LDY, T, OB, OE)              \
  do {                                                                                 \
    for (int64_t o = (OB); o < (OE); ++o)                                              \
      UK_NEON_TOKEN_LOOP(DOTK, W + o * NB, X, NB, Y, LDY, 0, T, o);                    \
  } while (0)
#endif

#define MILM_UK_HAVE_matmul_q4_0_q8 1
void MILM_UK_FN(matmul_q4_0_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK;
  const uk_block_q4_0 *W = (const uk_block_q4_0 *)w;
  const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;
  UK_NEON_Q32_MATMUL(neon_mmla_q4_0, neon_rows_q4_0, uk_block_q4_0, W, X, nb, y, ldy, T,
                     o_begin, o_end);
}

/*---- q4_g128 and q4_g256: SDOT per 32-value sub-block, one scale per block ----------*/

/* One weight row against NT (1..4) tokens: each sub-block's two SDOTs give its
 * integer sums (the weights made signed, q - 8), times the activation block's
 * scale into the block's lanes, then the block's lanes times the weight scale. */
#define UK_NEON_Q4_GROUPS_KERNEL(NAME, WBLK, S)                                        \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_32 *X, int64_t nb, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    float32x4_t acc[4];                                                                \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u] = vdupq_n_f32(0.0f);                                                      \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      float32x4_t bacc[4];                                                             \
      for (int u = 0; u < NT; ++u)                                                     \
        bacc[u] = vdupq_n_f32(0.0f);                                                   \
      for (int v = 0; v < (S); ++v) {                                                  \
        int8x16_t w0, w1;                                                              \
        neon_unpack_q4(wr[b].qs + 16 * v, &w0, &w1);                                   \
        for (int u = 0; u < NT; ++u) {                                                 \
          const milm_uk_block_q8_32 *xb = X + ((t0 + u) * nb + b) * (S) + v;           \
          int32x4_t p = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xb->qs));               \
          p = vdotq_s32(p, w1, vld1q_s8(xb->qs + 16));                                 \
          bacc[u] = vfmaq_n_f32(bacc[u], vcvtq_f32_s32(p), xb->d);                     \
        }                                                                              \
      }                                                                                \
      const float dw = uk_fp16_to_fp32(wr[b].d);                                       \
      for (int u = 0; u < NT; ++u)                                                     \
        acc[u] = vfmaq_n_f32(acc[u], bacc[u], dw);                                     \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = vaddvq_f32(acc[u]);                                      \
  }
UK_NEON_Q4_GROUPS_KERNEL(neon_rows_q4_g128, uk_block_q4_g128, 4)
UK_NEON_Q4_GROUPS_KERNEL(neon_rows_q4_g256, uk_block_q4_g256, 8)
UK_NEON_Q4_GROUPS_KERNEL(neon_rows_q4_g64, uk_block_q4_g64, 2)

#define UK_NEON_Q4_GROUPS_MATMUL(fmt, S)                                               \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,          \
                                     int64_t ldy, int64_t T, int64_t K,                \
                                     int64_t o_begin, int64_t o_end) {                 \
    const int64_t nb = K / (32 * (S));                                                 \
    const uk_block_##fmt *W = (const uk_block_##fmt *)w;                               \
    const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;                    \
    for (int64_t o = o_begin; o < o_end; ++o)                                          \
      UK_NEON_TOKEN_LOOP(neon_rows_##fmt, W + o * nb, X, nb, y, ldy, 0, T, o);         \
  }
#define MILM_UK_HAVE_matmul_q4_g128_q8 1
UK_NEON_Q4_GROUPS_MATMUL(q4_g128, 4)
#define MILM_UK_HAVE_matmul_q4_g256_q8 1
UK_NEON_Q4_GROUPS_MATMUL(q4_g256, 8)
#define MILM_UK_HAVE_matmul_q4_g64_q8 1
UK_NEON_Q4_GROUPS_MATMUL(q4_g64, 2)

/*---- outlier columns (UK_DEFINE_OUTLIER_COLUMNS_F16): 4-wide dots per row ----------*/

UK_AI float neon_dot_f16(const uint16_t *s, const float *xg, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    acc = vfmaq_f32(acc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(s + j))), vld1q_f32(xg + j));
  float tail = 0.0f;
  for (; j < n; ++j)
    tail += uk_fp16_to_fp32(s[j]) * xg[j];
  return vaddvq_f32(acc) + tail;
}
#define MILM_UK_HAVE_outlier_columns_f16 1
UK_DEFINE_OUTLIER_COLUMNS_F16(neon_dot_f16)

#define MILM_UK_HAVE_matmul_q8_0_q8 1
void MILM_UK_FN(matmul_q8_0_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK;
  const uk_block_q8_0 *W = (const uk_block_q8_0 *)w;
  const milm_uk_block_q8_32 *X = (const milm_uk_block_q8_32 *)xq;
  UK_NEON_Q32_MATMUL(neon_mmla_q8_0, neon_rows_q8_0, uk_block_q8_0, W, X, nb, y, ldy, T,
                     o_begin, o_end);
}

/*---- q4_1, q5_0, q5_1: SDOT (weights < 32 fit i8), plus the min term -----------------*/

/* The fifth bits of a q5 block: bit j of the little-endian qh -> 0x10 in byte j. */
UK_AI void neon_q5_high(const uint8_t *qh4, uint8x16_t *h0, uint8x16_t *h1) {
  static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(bits), ten = vdupq_n_u8(0x10);
  const uint8x16_t b01 = vcombine_u8(vdup_n_u8(qh4[0]), vdup_n_u8(qh4[1]));
  const uint8x16_t b23 = vcombine_u8(vdup_n_u8(qh4[2]), vdup_n_u8(qh4[3]));
  *h0 = vandq_u8(vtstq_u8(b01, bit), ten);
  *h1 = vandq_u8(vtstq_u8(b23, bit), ten);
}
UK_AI void neon_load_q5_0(const uk_block_q5_0 *b, int8x16_t *w0, int8x16_t *w1) {
  const uint8x16_t raw = vld1q_u8(b->qs);
  uint8x16_t h0, h1;
  neon_q5_high(b->qh, &h0, &h1);
  const int8x16_t sixteen = vdupq_n_s8(16);
  *w0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, vdupq_n_u8(0x0F)), h0)), sixteen);
  *w1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), h1)), sixteen);
}
UK_NEON_Q32_DOT_KERNEL(neon_rows_q5_0, uk_block_q5_0, neon_load_q5_0)

UK_AI void neon_load_q4_1(const uk_block_q4_1 *b, int8x16_t *w0, int8x16_t *w1) {
  const uint8x16_t raw = vld1q_u8(b->qs);
  *w0 = vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F)));
  *w1 = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
}
UK_AI void neon_load_q5_1(const uk_block_q5_1 *b, int8x16_t *w0, int8x16_t *w1) {
  const uint8x16_t raw = vld1q_u8(b->qs);
  uint8x16_t h0, h1;
  neon_q5_high(b->qh, &h0, &h1);
  *w0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, vdupq_n_u8(0x0F)), h0));
  *w1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), h1));
}
/* d_w d_x (q . a) + m_w d_x sum(a). */
#define UK_NEON_Q32_MIN_KERNEL(NAME, WBLK, LOADW)                                      \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_32 *X, int64_t nb, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    float32x4_t acc[4];                                                                \
    float accm[4];                                                                     \
    for (int u = 0; u < NT; ++u) {                                                     \
      acc[u] = vdupq_n_f32(0.0f);                                                      \
      accm[u] = 0.0f;                                                                  \
    }                                                                                  \
    for (int64_t b = 0; b < nb; ++b) {                                                 \
      int8x16_t w0, w1;                                                                \
      LOADW(wr + b, &w0, &w1);                                                         \
      const float dw = uk_fp16_to_fp32(wr[b].d), mw = uk_fp16_to_fp32(wr[b].m);        \
      for (int u = 0; u < NT; ++u) {                                                   \
        const milm_uk_block_q8_32 *xb = X + (t0 + u) * nb + b;                         \
        int32x4_t p = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xb->qs));                 \
        p = vdotq_s32(p, w1, vld1q_s8(xb->qs + 16));                                   \
        acc[u] = vfmaq_n_f32(acc[u], vcvtq_f32_s32(p), dw * xb->d);                    \
        accm[u] += mw * xb->d * (float)xb->sum;                                        \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u)                                                       \
      y[(t0 + u) * ldy + o] = vaddvq_f32(acc[u]) + accm[u];                            \
  }
UK_NEON_Q32_MIN_KERNEL(neon_rows_q4_1, uk_block_q4_1, neon_load_q4_1)
UK_NEON_Q32_MIN_KERNEL(neon_rows_q5_1, uk_block_q5_1, neon_load_q5_1)

#define UK_NEON_MATMUL_Q8(fmt, QK, ABLK)                                               \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,          \
                                     int64_t ldy, int64_t T, int64_t K,                \
                                     int64_t o_begin, int64_t o_end) {                 \
    const int64_t nb = K / (QK);                                                       \
    const uk_block_##fmt *W = (const uk_block_##fmt *)w;                               \
    const ABLK *X = (const ABLK *)xq;                                                  \
    for (int64_t o = o_begin; o < o_end; ++o)                                          \
      UK_NEON_TOKEN_LOOP(neon_rows_##fmt, W + o * nb, X, nb, y, ldy, 0, T, o);         \
  }
#define MILM_UK_HAVE_matmul_q4_1_q8 1
UK_NEON_MATMUL_Q8(q4_1, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_0_q8 1
UK_NEON_MATMUL_Q8(q5_0, UK_QK, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_1_q8 1
UK_NEON_MATMUL_Q8(q5_1, UK_QK, milm_uk_block_q8_32)

/*---- q4_k: SDOT per 32-value sub-block, scaled in i32 ---------------------------------*/

/* q4_k / q5_k (HIGH5 adds q5_k's fifth bits). */
#define UK_NEON_QK4_KERNEL(NAME, WBLK, HIGH5)                                                      \
  UK_AI void NAME(const WBLK *wr, const milm_uk_block_q8_k *X, int64_t nb, float *y, int64_t ldy,  \
                  int64_t t0, int64_t o, const int NT) {                                           \
    float accf[4] = {0, 0, 0, 0};                                                                  \
    const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                        \
    for (int64_t b = 0; b < nb; ++b) {                                                             \
      const WBLK *wb = wr + b;                                                                     \
      int sc[8], mn[8];                                                                            \
      for (int j = 0; j < 8; ++j)                                                                  \
        uk_scale_min_k4(j, wb->scales, &sc[j], &mn[j]);                                            \
      int16_t mins16[8];                                                                           \
      for (int j = 0; j < 8; ++j)                                                                  \
        mins16[j] = (int16_t)mn[j];                                                                \
      const int16x8_t mins = vld1q_s16(mins16);                                                    \
      int32x4_t sumi[4];                                                                           \
      for (int u = 0; u < NT; ++u)                                                                 \
        sumi[u] = vdupq_n_s32(0);                                                                  \
      for (int c = 0; c < 4; ++c) {                                                                \
        const uint8x16_t q0 = vld1q_u8(wb->qs + 32 * c), q1 = vld1q_u8(wb->qs + 32 * c + 16);      \
        uint8x16_t ul0 = vandq_u8(q0, m4), ul1 = vandq_u8(q1, m4);                                 \
        uint8x16_t uh0 = vshrq_n_u8(q0, 4), uh1 = vshrq_n_u8(q1, 4);                               \
        HIGH5(c, ul0, ul1, uh0, uh1);                                                              \
        const int8x16_t l0 = vreinterpretq_s8_u8(ul0), l1 = vreinterpretq_s8_u8(ul1);              \
        const int8x16_t h0 = vreinterpretq_s8_u8(uh0), h1 = vreinterpretq_s8_u8(uh1);              \
        for (int u = 0; u < NT; ++u) {                                                             \
          const int8_t *a = X[(t0 + u) * nb + b].qs + 64 * c;                                      \
          int32x4_t pl = vdotq_s32(vdupq_n_s32(0), l0, vld1q_s8(a));                               \
          pl = vdotq_s32(pl, l1, vld1q_s8(a + 16));                                                \
          int32x4_t ph = vdotq_s32(vdupq_n_s32(0), h0, vld1q_s8(a + 32));                          \
          ph = vdotq_s32(ph, h1, vld1q_s8(a + 48));                                                \
          sumi[u] = vmlaq_n_s32(sumi[u], pl, sc[2 * c]);                                           \
          sumi[u] = vmlaq_n_s32(sumi[u], ph, sc[2 * c + 1]);                                       \
        }                                                                                          \
      }                                                                                            \
      const float d = uk_fp16_to_fp32(wb->d), dmin = uk_fp16_to_fp32(wb->dmin);                    \
      for (int u = 0; u < NT; ++u) {                                                               \
        const milm_uk_block_q8_k *xb = X + (t0 + u) * nb + b;                                      \
        /* sum_j m_j * (bsums[2j] + bsums[2j+1]) */                                                \
        const int16x8_t bs = vpaddq_s16(vld1q_s16(xb->bsums), vld1q_s16(xb->bsums + 8));           \
        const int32x4_t pm =                                                                       \
            vmlal_high_s16(vmull_s16(vget_low_s16(bs), vget_low_s16(mins)), bs, mins);             \
        accf[u] += xb->d * (d * (float)vaddvq_s32(sumi[u]) - dmin * (float)vaddvq_s32(pm));        \
      }                                                                                            \
    }                                                                                              \
    for (int u = 0; u < NT; ++u)                                                                   \
      y[(t0 + u) * ldy + o] = accf[u];                                                             \
  }
#define UK_NEON_NO_HIGH5(c, l0, l1, h0, h1) ((void)0)
/* q5_k: bit 2c of qh[l] is the fifth bit of low-nibble value l, bit 2c+1 of the high. */
#define UK_NEON_Q5K_HIGH5(c, l0, l1, h0, h1)                                                       \
  do {                                                                                             \
    const uint8x16_t qa_ = vld1q_u8(wb->qh), qb_ = vld1q_u8(wb->qh + 16);                          \
    const int8x16_t s0_ = vdupq_n_s8((int8_t)(-2 * (c))), s1_ = vdupq_n_s8((int8_t)(-2 * (c)-1));  \
    const uint8x16_t one_ = vdupq_n_u8(1);                                                         \
    l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(qa_, s0_), one_), 4));                          \
    l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(qb_, s0_), one_), 4));                          \
    h0 = vorrq_u8(h0, vshlq_n_u8(vandq_u8(vshlq_u8(qa_, s1_), one_), 4));                          \
    h1 = vorrq_u8(h1, vshlq_n_u8(vandq_u8(vshlq_u8(qb_, s1_), one_), 4));                          \
  } while (0)
UK_NEON_QK4_KERNEL(neon_rows_q4_k, uk_block_q4_k, UK_NEON_NO_HIGH5)
UK_NEON_QK4_KERNEL(neon_rows_q5_k, uk_block_q5_k, UK_NEON_Q5K_HIGH5)

#define MILM_UK_HAVE_matmul_q5_k_q8 1
UK_NEON_MATMUL_Q8(q5_k, UK_QK_K, milm_uk_block_q8_k)

#define MILM_UK_HAVE_matmul_q4_k_q8 1
void MILM_UK_FN(matmul_q4_k_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK_K;
  const uk_block_q4_k *W = (const uk_block_q4_k *)w;
  const milm_uk_block_q8_k *X = (const milm_uk_block_q8_k *)xq;
  for (int64_t o = o_begin; o < o_end; ++o)
    UK_NEON_TOKEN_LOOP(neon_rows_q4_k, W + o * nb, X, nb, y, ldy, 0, T, o);
}

/*---- q6_k: SDOT per 16-value sub-block on q - 32 ----------------------------------------*/

UK_AI void neon_rows_q6_k(const uk_block_q6_k *wr, const milm_uk_block_q8_k *X, int64_t nb,
                          float *y, int64_t ldy, int64_t t0, int64_t o, const int NT) {
  float accf[4] = {0, 0, 0, 0};
  const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03);
  const int8x16_t m32 = vdupq_n_s8(32);
  for (int64_t b = 0; b < nb; ++b) {
    const uk_block_q6_k *wb = wr + b;
    int32x4_t sumi[4];
    for (int u = 0; u < NT; ++u)
      sumi[u] = vdupq_n_s32(0);
    for (int n = 0; n < 2; ++n)
      for (int h = 0; h < 2; ++h) { /* values l = 16h..16h+15 of each 32 */
        const uint8x16_t ql0 = vld1q_u8(wb->ql + 64 * n + 16 * h);
        const uint8x16_t ql1 = vld1q_u8(wb->ql + 64 * n + 32 + 16 * h);
        const uint8x16_t qh = vld1q_u8(wb->qh + 32 * n + 16 * h);
        int8x16_t q[4];
        q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8(vandq_u8(qh, m3), 4)));
        q[1] = vreinterpretq_s8_u8(
            vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), m3), 4)));
        q[2] = vreinterpretq_s8_u8(
            vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), m3), 4)));
        q[3] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)));
        for (int k = 0; k < 4; ++k)
          q[k] = vsubq_s8(q[k], m32);
        for (int u = 0; u < NT; ++u) {
          const int8_t *a = X[(t0 + u) * nb + b].qs + 128 * n + 16 * h;
          for (int k = 0; k < 4; ++k) {
            const int32x4_t p = vdotq_s32(vdupq_n_s32(0), q[k], vld1q_s8(a + 32 * k));
            sumi[u] = vmlaq_n_s32(sumi[u], p, wb->scales[8 * n + 2 * k + h]);
          }
        }
      }
    const float d = uk_fp16_to_fp32(wb->d);
    for (int u = 0; u < NT; ++u)
      accf[u] += d * X[(t0 + u) * nb + b].d * (float)vaddvq_s32(sumi[u]);
  }
  for (int u = 0; u < NT; ++u)
    y[(t0 + u) * ldy + o] = accf[u];
}

#define MILM_UK_HAVE_matmul_q6_k_q8 1
void MILM_UK_FN(matmul_q6_k_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  const int64_t nb = K / UK_QK_K;
  const uk_block_q6_k *W = (const uk_block_q6_k *)w;
  const milm_uk_block_q8_k *X = (const milm_uk_block_q8_k *)xq;
  for (int64_t o = o_begin; o < o_end; ++o)
    UK_NEON_TOKEN_LOOP(neon_rows_q6_k, W + o * nb, X, nb, y, ldy, 0, T, o);
}

/*---- float formats --------------------------------------------------------------------*/

UK_AI void neon_load8_f32(const float *p, float32x4_t *a, float32x4_t *b) {
  *a = vld1q_f32(p);
  *b = vld1q_f32(p + 4);
}
UK_AI void neon_load8_f16(const uint16_t *p, float32x4_t *a, float32x4_t *b) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
  *a = vcvt_f32_f16(vget_low_f16(h));
  *b = vcvt_high_f32_f16(h);
}
UK_AI void neon_load8_bf16(const uint16_t *p, float32x4_t *a, float32x4_t *b) {
  const uint16x8_t h = vld1q_u16(p);
  *a = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
  *b = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
}
UK_AI float neon_conv_f32(float v) { return v; }

#define UK_NEON_FLOAT_KERNEL(NAME, WTYPE, LOAD8, CONV1)                                \
  UK_AI void NAME(const WTYPE *wr, const float *x, int64_t ldx, int64_t K, float *y,   \
                  int64_t ldy, int64_t t0, int64_t o, const int NT) {                  \
    float32x4_t acc[4][2];                                                             \
    for (int u = 0; u < NT; ++u)                                                       \
      acc[u][0] = acc[u][1] = vdupq_n_f32(0.0f);                                       \
    int64_t i = 0;                                                                     \
    for (; i + 8 <= K; i += 8) {                                                       \
      float32x4_t w0, w1;                                                              \
      LOAD8(wr + i, &w0, &w1);                                                         \
      for (int u = 0; u < NT; ++u) {                                                   \
        const float *xt = x + (t0 + u) * ldx + i;                                      \
        acc[u][0] = vfmaq_f32(acc[u][0], w0, vld1q_f32(xt));                           \
        acc[u][1] = vfmaq_f32(acc[u][1], w1, vld1q_f32(xt + 4));                       \
      }                                                                                \
    }                                                                                  \
    for (int u = 0; u < NT; ++u) {                                                     \
      float s = vaddvq_f32(vaddq_f32(acc[u][0], acc[u][1]));                           \
      for (int64_t j = i; j < K; ++j)                                                  \
        s += CONV1(wr[j]) * x[(t0 + u) * ldx + j];                                     \
      y[(t0 + u) * ldy + o] = s;                                                       \
    }                                                                                  \
  }
UK_NEON_FLOAT_KERNEL(neon_rows_f32, float, neon_load8_f32, neon_conv_f32)
UK_NEON_FLOAT_KERNEL(neon_rows_f16, uint16_t, neon_load8_f16, uk_fp16_to_fp32)
UK_NEON_FLOAT_KERNEL(neon_rows_bf16, uint16_t, neon_load8_bf16, uk_bf16_to_fp32)

#define UK_NEON_FLOAT_TOKEN_LOOP(KERNEL, WR, X, LDX, K, Y, LDY, T, O)                  \
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

#define UK_NEON_MATMUL_FLOAT(fmt, WTYPE)                                               \
  void MILM_UK_FN(matmul_##fmt)(const void *w, const float *x, int64_t ldx, float *y,  \
                                int64_t ldy, int64_t T, int64_t K, int64_t o_begin,    \
                                int64_t o_end, void *scratch) {                        \
    (void)scratch;                                                                     \
    const WTYPE *W = (const WTYPE *)w;                                                 \
    for (int64_t o = o_begin; o < o_end; ++o)                                          \
      UK_NEON_FLOAT_TOKEN_LOOP(neon_rows_##fmt, W + o * K, x, ldx, K, y, ldy, T, o);   \
  }
#define MILM_UK_HAVE_matmul_f32 1
UK_NEON_MATMUL_FLOAT(f32, float)
#define MILM_UK_HAVE_matmul_f16 1
UK_NEON_MATMUL_FLOAT(f16, uint16_t)
#define MILM_UK_HAVE_matmul_bf16 1
UK_NEON_MATMUL_FLOAT(bf16, uint16_t)

/*---- the rest: portable C -----------------------------------------------------------*/

#include "ukernels_generic.inc"
