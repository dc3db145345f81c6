/*===- ukernels_hvx.c - Hexagon HVX (128-byte vectors) microkernels -------===*
 *
 * The first of the Hexagon target's kernels (issue: a Hexagon HVX target):
 * row dot products of the 32-value weight formats with 8-bit activations,
 * the integer part on HVX with vrmpy (four blocks of 32 bytes a 128-byte
 * vector, each lane a sum of four byte products), the float part per block
 * in the generic kernels' order, so the result is bit for bit
 * sum_b uk_dot_<fmt>(w_b, a_b) of the generic C kernels
 * (test/unit/ukernels/HexagonDriver.c checks it under qemu-hexagon).
 *
 *   q8_0: vrmpy of signed bytes by signed bytes;
 *   q4_0: the nibbles unpacked to unsigned bytes 0..15 in the activation's
 *         order (value j < 16 the low nibble of qs[j], 16 + j the high one),
 *         vrmpy of unsigned by signed bytes, minus 8 * sum(a) per block
 *         (sum((q - 8) a) = sum(q a) - 8 sum(a), exactly).
 *
 * Freestanding: no libc (the Hexagon target has none here).
 *===----------------------------------------------------------------------===*/
#include "uk_internal.h"

#include <hexagon_protos.h>
#include <hexagon_types.h>

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

float milm_uk_hvx_dot_q4_0(const uk_block_q4_0 *w, const milm_uk_block_q8_32 *a, int64_t nb) {
  uint8_t wq[128] __attribute__((aligned(128)));
  int8_t aq[128] __attribute__((aligned(128)));
  float acc = 0.0f;
  for (int64_t b0 = 0; b0 < nb; b0 += 4) {
    const int n = nb - b0 < 4 ? (int)(nb - b0) : 4;
    for (int b = 0; b < 4; ++b) {
      for (int j = 0; j < 16; ++j) {
        const uint8_t q = b < n ? w[b0 + b].qs[j] : 0;
        wq[32 * b + j] = q & 0xF;
        wq[32 * b + 16 + j] = q >> 4;
      }
      for (int j = 0; j < 32; ++j)
        aq[32 * b + j] = b < n ? a[b0 + b].qs[j] : 0;
    }
    int32_t s[4];
    hvx_block_sums(Q6_Vw_vrmpy_VubVb(*(HVX_Vector *)wq, *(HVX_Vector *)aq), s);
    for (int b = 0; b < n; ++b)
      acc += uk_fp16_to_fp32(w[b0 + b].d) * a[b0 + b].d * (float)(s[b] - 8 * a[b0 + b].sum);
  }
  return acc;
}
