/*===- ukernels_hvx.c - Hexagon HVX (128-byte vectors) microkernels -------===*
 *
 * The Hexagon target's kernels (issue: a Hexagon HVX target): row dot
 * products of the quantized weight formats with 8-bit activations, the
 * integer part on HVX with vrmpy (a 128-byte vector of weight codes times one
 * of activation bytes, each int32 lane a sum of four byte products), the
 * float part per block in the generic kernels' order, so the result is bit
 * for bit sum_b uk_dot_<fmt>(w_b, a_b) of the generic C kernels
 * (test/unit/ukernels/HexagonDriver.c checks it under qemu-hexagon).
 *
 *   q8_0: vrmpy of signed bytes by signed bytes, four blocks a vector;
 *   q4_0, q4_1, q5_0, q5_1: the codes unpacked to unsigned bytes in the
 *         activation's order, four blocks a vector, vrmpy of unsigned by
 *         signed bytes; a zero point z comes off as z * sum(a) per block
 *         (sum((q - z) a) = sum(q a) - z sum(a), exactly);
 *   q4_k, q5_k, q6_k: a 256-value block as two vectors of codes, the lanes
 *         summed per 16 values for the sub-block scales (q6_k's zero 32 off
 *         with the activation's 16-value sums); their codes are unpacked in
 *         HVX (vshuff of the nibbles, the high bits by halfword shifts).
 * The other formats' codes are unpacked ("staged") through memory by scalar
 * code; the
 * packed layouts q8_0x32 and q4_0x32 further down, which milmc writes for
 * this target, feed vrmpy from the stored bytes directly.
 *
 * The Hexagon target's kernel set (`milmc compile --target hexagon`, bitcode
 * hexagon-hvx.bc) is this file: the products of GGUF's q8_0, q4_0, q4_1, q5_0,
 * q5_1, q4_k, q5_k and q6_k layouts go through the HVX row dots below; f32,
 * f16, bf16, milm's q4_g* and everything else is the generic C
 * (included at the end) compiled for Hexagon, whose float work stays scalar:
 * the target enables no HVX floating point, which qemu 7.2 cannot execute.
 * test/unit/ukernels/HexagonDriver.c checks every product against the generic
 * kernels' block dots.
 *
 * Freestanding: no libc (the Hexagon target has none here).
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

#include <hexagon_protos.h>
#include <hexagon_types.h>

#if defined(MILM_UK_HVX_QFLOAT) && __HVX_ARCH__ < 73
#error "the qfloat variant needs HVX v73 or later (-mv73 -mhvx-qfloat)"
#endif

/* bench/hexagon-packets.sh compiles this file with -DMILM_UK_PACKETS, which
 * keeps each block's HVX part a function of its own, to count the VLIW
 * packets the compiler formed for it (llvm-mca has no Hexagon scheduling
 * model in LLVM 22). */
#ifdef MILM_UK_PACKETS
#define UK_HVX_PART __attribute__((noinline))
#else
#define UK_HVX_PART static inline
#endif

/* The block sums of 4 blocks: 32 int32 lanes, 8 a block. */
static inline void hvx_block_sums(HVX_Vector lanes, int32_t out[4]) {
  int32_t v[32] __attribute__((aligned(128)));
  *(HVX_Vector *)v = lanes;
  for (int b = 0; b < 4; ++b) {
    int32_t s = 0;
    for (int i = 0; i < 8; ++i)
      s += v[8 * b + i];
    out[b] = s;
  }
}

float milm_uk_hvx_dot_q8_0(const uk_block_q8_0 *w, const milm_uk_block_q8_32 *a, int64_t nb) {
  int8_t wq[128] __attribute__((aligned(128)));
  int8_t aq[128] __attribute__((aligned(128)));
  float acc = 0.0f;
  for (int64_t b0 = 0; b0 < nb; b0 += 4) {
    const int n = nb - b0 < 4 ? (int)(nb - b0) : 4;
    for (int b = 0; b < 4; ++b)
      for (int j = 0; j < 32; ++j) {
        wq[32 * b + j] = b < n ? w[b0 + b].qs[j] : 0;
        aq[32 * b + j] = b < n ? a[b0 + b].qs[j] : 0;
      }
    int32_t s[4];
    hvx_block_sums(Q6_Vw_vrmpy_VbVb(*(HVX_Vector *)wq, *(HVX_Vector *)aq), s);
    for (int b = 0; b < n; ++b)
      acc += uk_fp16_to_fp32(w[b0 + b].d) * a[b0 + b].d * (float)s[b];
  }
  return acc;
}

/* The 32-value formats with unsigned codes: a block's codes unpacked to bytes
 * in the activation's order (value j < 16 from qs[j]'s low nibble, 16 + j
 * from its high one; q5_*'s fifth bit j of qh), vrmpy of unsigned weight
 * bytes by signed activation bytes, then per block the generic kernel's float
 * expression of the block's integer sum S (q4_0/q5_0 subtract the zero point
 * times sum(a), exactly as their signed codes would give). */
static inline void hvx_nibbles(const uint8_t *qs, uint8_t *q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0xF;
    q[16 + j] = qs[j] >> 4;
  }
}
static inline void hvx_nibbles5(const uint8_t *qs, const uint8_t *qh, uint8_t *q) {
  const uint32_t h = uk_load_u32le(qh);
  for (int j = 0; j < 16; ++j) {
    q[j] = (uint8_t)((qs[j] & 0xF) | (((h >> j) & 1u) << 4));
    q[16 + j] = (uint8_t)((qs[j] >> 4) | (((h >> (j + 16)) & 1u) << 4));
  }
}

#define HVX_DOT32(fmt, UNPACK, VALUE)                                                      \
  float milm_uk_hvx_dot_##fmt(const uk_block_##fmt *w, const milm_uk_block_q8_32 *a,       \
                              int64_t nb) {                                                \
    uint8_t wq[128] __attribute__((aligned(128)));                                         \
    int8_t aq[128] __attribute__((aligned(128)));                                          \
    float acc = 0.0f;                                                                      \
    for (int64_t b0 = 0; b0 < nb; b0 += 4) {                                               \
      const int n = nb - b0 < 4 ? (int)(nb - b0) : 4;                                      \
      for (int b = 0; b < 4; ++b) {                                                        \
        if (b < n) {                                                                       \
          const uk_block_##fmt *W = &w[b0 + b];                                            \
          UNPACK;                                                                          \
        }                                                                                  \
        for (int j = 0; j < 32; ++j) {                                                     \
          if (b >= n)                                                                      \
            wq[32 * b + j] = 0;                                                            \
          aq[32 * b + j] = b < n ? a[b0 + b].qs[j] : 0;                                    \
        }                                                                                  \
      }                                                                                    \
      int32_t s[4];                                                                        \
      hvx_block_sums(Q6_Vw_vrmpy_VubVb(*(HVX_Vector *)wq, *(HVX_Vector *)aq), s);          \
      for (int b = 0; b < n; ++b) {                                                        \
        const uk_block_##fmt *W = &w[b0 + b];                                              \
        const milm_uk_block_q8_32 *A = &a[b0 + b];                                         \
        const int32_t S = s[b];                                                            \
        acc += VALUE;                                                                      \
      }                                                                                    \
    }                                                                                      \
    return acc;                                                                            \
  }

HVX_DOT32(q4_0, hvx_nibbles(W->qs, wq + 32 * b),
          uk_fp16_to_fp32(W->d) * A->d * (float)(S - 8 * A->sum))
HVX_DOT32(q4_1, hvx_nibbles(W->qs, wq + 32 * b),
          uk_fp16_to_fp32(W->d) * A->d * (float)S + uk_fp16_to_fp32(W->m) * A->d * (float)A->sum)
HVX_DOT32(q5_0, hvx_nibbles5(W->qs, W->qh, wq + 32 * b),
          uk_fp16_to_fp32(W->d) * A->d * (float)(S - 16 * A->sum))
HVX_DOT32(q5_1, hvx_nibbles5(W->qs, W->qh, wq + 32 * b),
          uk_fp16_to_fp32(W->d) * A->d * (float)S + uk_fp16_to_fp32(W->m) * A->d * (float)A->sum)
#undef HVX_DOT32

/*---- the 256-value K formats ------------------------------------------------
 * A block is two vectors of 128 codes in the activation's order (one half
 * each), vrmpy'd with the activation half; the int32 lanes give the sums of
 * 16 values (4 lanes each), from which each format's integer formula and
 * float expression are the generic kernel's. */

/* The lanes of a vrmpy summed per 16 values: 8 sums. */
static inline void hvx_lane_sums16(HVX_Vector lanes, int32_t out[8]) {
  int32_t v[32] __attribute__((aligned(128)));
  *(HVX_Vector *)v = lanes;
  for (int g = 0; g < 8; ++g)
    out[g] = v[4 * g] + v[4 * g + 1] + v[4 * g + 2] + v[4 * g + 3];
}

static inline float hvx_dot_k4(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales,
                               uint16_t d, uint16_t dmin, const milm_uk_block_q8_k *a) {
  /* The codes without staging: the 128 code bytes as one vector, their low
   * and high nibbles as two, shuffled by 32-byte chunks into the activation's
   * order (chunk c's low nibbles, then its high ones): one vector pair holds
   * both halves of the block. q5_k's fifth bits: qh's 32 bytes repeated in
   * the 4 chunks of a half, chunk k of half h shifted right by 4h + k (a
   * halfword shift; what it brings in from the upper byte is masked off). */
  static const uint16_t shifts[64] __attribute__((aligned(128))) = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
      2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  int32_t s16[16];
  const HVX_Vector v = *(const HVX_UVector *)qs;
  const HVX_Vector m = Q6_Vb_vsplat_R(0x0F);
  const HVX_VectorPair nibbles = Q6_W_vshuff_VVR(Q6_V_vand_VV(Q6_Vuh_vlsr_VuhR(v, 4), m),
                                                 Q6_V_vand_VV(v, m), -32);
  HVX_Vector codes[2] = {Q6_V_lo_W(nibbles), Q6_V_hi_W(nibbles)};
  if (qh) {
    uint8_t hrep[128] __attribute__((aligned(128)));
    for (int k = 0; k < 4; ++k)
      __builtin_memcpy(hrep + 32 * k, qh, 32);
    for (int h = 0; h < 2; ++h) {
      const HVX_Vector sh =
          Q6_Vh_vadd_VhVh(*(const HVX_Vector *)shifts, Q6_Vh_vsplat_R(4 * h));
      const HVX_Vector bit =
          Q6_V_vand_VV(Q6_Vh_vlsr_VhVh(*(const HVX_Vector *)hrep, sh), Q6_Vb_vsplat_R(0x01));
      codes[h] = Q6_V_vor_VV(codes[h], Q6_Vh_vasl_VhR(bit, 4));
    }
  }
  for (int h = 0; h < 2; ++h)
    hvx_lane_sums16(Q6_Vw_vrmpy_VubVb(codes[h], *(const HVX_UVector *)(a->qs + 128 * h)),
                    s16 + 8 * h);
  int32_t sumq = 0, summ = 0;
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    uk_scale_min_k4(2 * c, scales, &sc0, &m0);
    uk_scale_min_k4(2 * c + 1, scales, &sc1, &m1);
    sumq += sc0 * (s16[4 * c] + s16[4 * c + 1]) + sc1 * (s16[4 * c + 2] + s16[4 * c + 3]);
    summ += m0 * (a->bsums[4 * c] + a->bsums[4 * c + 1]) +
            m1 * (a->bsums[4 * c + 2] + a->bsums[4 * c + 3]);
  }
  return a->d * (uk_fp16_to_fp32(d) * (float)sumq - uk_fp16_to_fp32(dmin) * (float)summ);
}

float milm_uk_hvx_dot_q4_k(const uk_block_q4_k *w, const milm_uk_block_q8_k *a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b)
    acc += hvx_dot_k4(w[b].qs, NULL, w[b].scales, w[b].d, w[b].dmin, &a[b]);
  return acc;
}
float milm_uk_hvx_dot_q5_k(const uk_block_q5_k *w, const milm_uk_block_q8_k *a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b)
    acc += hvx_dot_k4(w[b].qs, w[b].qh, w[b].scales, w[b].d, w[b].dmin, &a[b]);
  return acc;
}

/* q6_k half n: value 32k + l (k < 4, l < 32) is ql[l + 32 (k & 1)]'s low
 * (k < 2) or high nibble with bits 2k, 2k + 1 of qh[l] on top; codes 0..63,
 * the zero point 32 taken off with the activation's 16-value sums. */
float milm_uk_hvx_dot_q6_k(const uk_block_q6_k *w, const milm_uk_block_q8_k *a, int64_t nb) {
  /* Without staging: ql's 64 bytes of the half as low and high nibbles,
   * shuffled by 64-byte chunks into chunks k = 0, 1 (low) and 2, 3 (high);
   * qh's 32 bytes repeated in the 4 chunks, chunk k shifted right by 2k (a
   * halfword shift: the bits it brings in from the upper byte are masked
   * off), its 2 bits put above the nibble. Reading ql + 64n as a vector stays
   * inside the block (qh, scales and d follow ql). */
  static const uint16_t shifts[64] __attribute__((aligned(128))) = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2,
      2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
      4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6};
  uint8_t hrep[128] __attribute__((aligned(128)));
  const HVX_Vector nib = Q6_Vb_vsplat_R(0x0F), two = Q6_Vb_vsplat_R(0x03);
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sum = 0;
    for (int n = 0; n < 2; ++n) {
      const HVX_Vector v = *(const HVX_UVector *)(w[b].ql + 64 * n);
      const HVX_Vector low4 = Q6_V_lo_W(Q6_W_vshuff_VVR(
          Q6_V_vand_VV(Q6_Vuh_vlsr_VuhR(v, 4), nib), Q6_V_vand_VV(v, nib), -64));
      for (int k = 0; k < 4; ++k)
        __builtin_memcpy(hrep + 32 * k, w[b].qh + 32 * n, 32);
      const HVX_Vector high2 = Q6_V_vand_VV(
          Q6_Vh_vlsr_VhVh(*(const HVX_Vector *)hrep, *(const HVX_Vector *)shifts), two);
      const HVX_Vector codes = Q6_V_vor_VV(low4, Q6_Vh_vasl_VhR(high2, 4));
      int32_t s[8];
      hvx_lane_sums16(Q6_Vw_vrmpy_VubVb(codes, *(const HVX_UVector *)(a[b].qs + 128 * n)), s);
      for (int j = 0; j < 8; ++j)
        sum += w[b].scales[8 * n + j] * (s[j] - 32 * a[b].bsums[8 * n + j]);
    }
    acc += uk_fp16_to_fp32(w[b].d) * a[b].d * (float)sum;
  }
  return acc;
}

/*---- products on the packed layouts q8_0x32 / q4_0x32 ----------------------
 * 32 rows a block (milm_ukernels.h has the byte order: milm_uk_repack_<layout>
 * in the generic kernels writes it): one 128-byte vector holds 4 consecutive
 * values of each of the 32 rows (row r's at bytes 4r .. 4r + 3) and vrmpy
 * multiplies them by 4 activation bytes broadcast to every lane: 32 rows x 4
 * products an instruction, the weights streamed as stored, no staging. A
 * block's 32 scales follow its vectors; the blocks are 64-byte aligned in
 * model.milm (not 128), so the vectors are read with unaligned loads. The
 * int32 sums of a block (one per row) then get the block's scales in float,
 * row by row in the generic kernels' order (qemu cannot run HVX float; on a
 * device the float part can move to qfloat). */

/* Four activation bytes as one word for vrmpy's scalar operand. `q` is
 * 4-byte aligned: milm_uk_block_q8_32's qs starts at byte 8 of a struct
 * aligned to 4, and the callers step by 4. */
static inline int32_t hvx_act_word(const int8_t *q) {
  int32_t w;
  __builtin_memcpy(&w, __builtin_assume_aligned(q, 4), 4);
  return w;
}
_Static_assert(__builtin_offsetof(milm_uk_block_q8_32, qs) % 4 == 0 &&
                   _Alignof(milm_uk_block_q8_32) >= 4,
               "activation words are 4-byte aligned");

/* One block's HVX part: the 32 rows' int32 sums of products with the
 * activation block's 32 bytes. */
UK_HVX_PART HVX_Vector milm_uk_hvx_sums_q8_0x32(const HVX_UVector *v, const int8_t *aq) {
  HVX_Vector sum = Q6_V_vzero();
  for (int t = 0; t < 8; ++t)
    sum = Q6_Vw_vrmpyacc_VwVbVb(sum, v[t], Q6_V_vsplat_R(hvx_act_word(aq + 4 * t)));
  return sum;
}
UK_HVX_PART HVX_Vector milm_uk_hvx_sums_q4_0x32(const HVX_UVector *v, const int8_t *aq) {
  const HVX_Vector lo = Q6_Vb_vsplat_R(0x0F);
  HVX_Vector sum = Q6_V_vzero();
  for (int t = 0; t < 4; ++t) {
    const HVX_Vector low = Q6_V_vand_VV(v[t], lo);
    const HVX_Vector high = Q6_V_vand_VV(Q6_Vuh_vlsr_VuhR(v[t], 4), lo);
    sum = Q6_Vw_vrmpyacc_VwVubRb(sum, low, hvx_act_word(aq + 4 * t));
    sum = Q6_Vw_vrmpyacc_VwVubRb(sum, high, hvx_act_word(aq + 16 + 4 * t));
  }
  return sum;
}

/* The 32 binary16 scales of a block as 32 f32 bit patterns, in integer HVX
 * (qemu executes it; test/unit/ukernels/HexagonDriver.c checks all 65536
 * values against uk_fp16_to_fp32 bit for bit): normal numbers re-biased,
 * subnormals normalised with a count of leading zeros, infinities and NaNs
 * given the all-ones exponent, the sign on top. */
UK_HVX_PART HVX_Vector milm_uk_hvx_fp16x32_bits(const uint16_t *d) {
  uint16_t h16[64] __attribute__((aligned(128)));
  __builtin_memcpy(h16, d, 64); /* 64 bytes: the next block is not ours to read */
  const HVX_Vector h = Q6_V_lo_W(Q6_Wuw_vunpack_Vuh(*(const HVX_Vector *)h16));
  const HVX_Vector sign = Q6_Vw_vasl_VwR(Q6_V_vand_VV(h, Q6_V_vsplat_R(0x8000)), 16);
  const HVX_Vector e = Q6_V_vand_VV(Q6_Vuw_vlsr_VuwR(h, 10), Q6_V_vsplat_R(0x1F));
  const HVX_Vector m = Q6_V_vand_VV(h, Q6_V_vsplat_R(0x3FF));
  const HVX_Vector m13 = Q6_Vw_vasl_VwR(m, 13);
  const HVX_Vector normal =
      Q6_V_vor_VV(Q6_Vw_vasl_VwR(Q6_Vw_vadd_VwVw(e, Q6_V_vsplat_R(112)), 23), m13);
  const HVX_Vector special = Q6_V_vor_VV(Q6_V_vsplat_R(0x7F800000), m13);
  /* subnormal m 2^-24 = 2^(p - 24) (m / 2^p), p the leading bit of m */
  const HVX_Vector p =
      Q6_Vw_vsub_VwVw(Q6_V_vsplat_R(31), Q6_Vuw_vcl0_Vuw(Q6_V_vor_VV(m, Q6_V_vsplat_R(1))));
  const HVX_Vector subnormal = Q6_V_vor_VV(
      Q6_Vw_vasl_VwR(Q6_Vw_vadd_VwVw(p, Q6_V_vsplat_R(103)), 23),
      Q6_V_vand_VV(Q6_Vw_vasl_VwVw(m, Q6_Vw_vsub_VwVw(Q6_V_vsplat_R(23), p)),
                   Q6_V_vsplat_R(0x7FFFFF)));
  const HVX_Vector zero = Q6_V_vzero();
  HVX_Vector bits = Q6_V_vmux_QVV(Q6_Q_vcmp_eq_VwVw(m, zero), zero, subnormal);
  bits = Q6_V_vmux_QVV(Q6_Q_vcmp_eq_VwVw(e, zero), bits, normal);
  bits = Q6_V_vmux_QVV(Q6_Q_vcmp_eq_VwVw(e, Q6_V_vsplat_R(0x1F)), special, bits);
  return Q6_V_vor_VV(bits, sign);
}

/* The same into out[32] (128-byte aligned): what the test driver checks. */
void milm_uk_hvx_fp16x32_to_f32(const uint16_t *d, float *out) {
  *(HVX_Vector *)out = milm_uk_hvx_fp16x32_bits(d);
}

/* Rows [o_begin, o_end) (multiples of 32) of T tokens for a packed layout of
 * `vecs` vectors a block; `zero` is the codes' zero point (q4_0's 8:
 * sum((q - 8) a) = sum(q a) - 8 sum(a)). */
static inline void hvx_matmul_x32(const uint8_t *w, const milm_uk_block_q8_32 *x, float *y,
                                  int64_t ldy, int64_t T, int64_t K, int64_t o_begin,
                                  int64_t o_end, int64_t vecs,
                                  HVX_Vector (*sums)(const HVX_UVector *, const int8_t *),
                                  int32_t zero) {
  const int64_t nb = K / 32, stride = vecs * 128 + 64;
  int32_t s[32] __attribute__((aligned(128)));
  float sc[32] __attribute__((aligned(128)));
  for (int64_t g = o_begin / 32; g < o_end / 32; ++g)
    for (int64_t t = 0; t < T; ++t) {
      const milm_uk_block_q8_32 *a = x + t * nb;
#ifdef MILM_UK_HVX_QFLOAT
      /* The float part on HVX qfloat (v73 and later): the 32 rows' sums to
       * f32, times the scales times the activation scale, added up in qf32.
       * Devices only: qemu 7.2 executes no HVX float, so this variant is
       * compiled here (the hexagon-qfloat targets) but not run, and its
       * rounding differs from the scalar path's in the last bits. */
      HVX_Vector vacc = Q6_Vqf32_vmpy_VsfVsf(Q6_V_vzero(), Q6_V_vzero());
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *blk = w + (g * nb + b) * stride;
        const HVX_Vector si = Q6_Vw_vsub_VwVw(sums((const HVX_UVector *)blk, a[b].qs),
                                              Q6_V_vsplat_R(zero * a[b].sum));
        const HVX_Vector scale = milm_uk_hvx_fp16x32_bits((const uint16_t *)(blk + vecs * 128));
        int32_t ad;
        __builtin_memcpy(&ad, &a[b].d, 4);
        const HVX_Vector sd = Q6_Vsf_equals_Vqf32(Q6_Vqf32_vmpy_VsfVsf(scale, Q6_V_vsplat_R(ad)));
        vacc = Q6_Vqf32_vadd_Vqf32Vqf32(vacc, Q6_Vqf32_vmpy_VsfVsf(sd, Q6_Vsf_equals_Vw(si)));
      }
      *(HVX_Vector *)sc = Q6_Vsf_equals_Vqf32(vacc);
      __builtin_memcpy(y + t * ldy + g * 32, sc, sizeof sc);
      continue;
#endif
      float acc[32];
      for (int r = 0; r < 32; ++r)
        acc[r] = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *blk = w + (g * nb + b) * stride;
        *(HVX_Vector *)s = sums((const HVX_UVector *)blk, a[b].qs);
        *(HVX_Vector *)sc = milm_uk_hvx_fp16x32_bits((const uint16_t *)(blk + vecs * 128));
        const int32_t off = zero * a[b].sum;
        for (int r = 0; r < 32; ++r)
          acc[r] += sc[r] * a[b].d * (float)(s[r] - off);
      }
      for (int r = 0; r < 32; ++r)
        y[t * ldy + g * 32 + r] = acc[r];
    }
}

void MILM_UK_FN(matmul_q8_0x32_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                   int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  hvx_matmul_x32((const uint8_t *)w, (const milm_uk_block_q8_32 *)xq, y, ldy, T, K, o_begin,
                 o_end, 8, milm_uk_hvx_sums_q8_0x32, 0);
}
void MILM_UK_FN(matmul_q4_0x32_q8)(const void *w, const void *xq, float *y, int64_t ldy,
                                   int64_t T, int64_t K, int64_t o_begin, int64_t o_end) {
  hvx_matmul_x32((const uint8_t *)w, (const milm_uk_block_q8_32 *)xq, y, ldy, T, K, o_begin,
                 o_end, 4, milm_uk_hvx_sums_q4_0x32, 8);
}
#define MILM_UK_HAVE_matmul_q8_0x32_q8
#define MILM_UK_HAVE_matmul_q4_0x32_q8

/*---- the kernel set: GGUF layouts through the HVX row dots -----------------*/

#define HVX_MATMUL_Q8(fmt, QK, ABLK)                                                    \
  void MILM_UK_FN(matmul_##fmt##_q8)(const void *w, const void *xq, float *y,           \
                                     int64_t ldy, int64_t T, int64_t K,                 \
                                     int64_t o_begin, int64_t o_end) {                  \
    const int64_t nb = K / (QK);                                                        \
    const uk_block_##fmt *W = (const uk_block_##fmt *)w;                                \
    const ABLK *X = (const ABLK *)xq;                                                   \
    for (int64_t o = o_begin; o < o_end; ++o)                                           \
      for (int64_t t = 0; t < T; ++t)                                                   \
        y[t * ldy + o] = milm_uk_hvx_dot_##fmt(W + o * nb, X + t * nb, nb);             \
  }
#define MILM_UK_HAVE_matmul_q8_0_q8
HVX_MATMUL_Q8(q8_0, 32, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q4_0_q8
HVX_MATMUL_Q8(q4_0, 32, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q4_1_q8
HVX_MATMUL_Q8(q4_1, 32, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_0_q8
HVX_MATMUL_Q8(q5_0, 32, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q5_1_q8
HVX_MATMUL_Q8(q5_1, 32, milm_uk_block_q8_32)
#define MILM_UK_HAVE_matmul_q4_k_q8
HVX_MATMUL_Q8(q4_k, 256, milm_uk_block_q8_k)
#define MILM_UK_HAVE_matmul_q5_k_q8
HVX_MATMUL_Q8(q5_k, 256, milm_uk_block_q8_k)
#define MILM_UK_HAVE_matmul_q6_k_q8
HVX_MATMUL_Q8(q6_k, 256, milm_uk_block_q8_k)
#undef HVX_MATMUL_Q8

#include "ukernels_generic.inc"
