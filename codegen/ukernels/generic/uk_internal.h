/*===- uk_internal.h - Shared pieces of every microkernel implementation ---===*
 *
 * GGUF's weight block layouts, binary16/bfloat16 conversions and the portable
 * per-block dequantization and integer dot products. Everything is static inline:
 * each instruction set's translation unit includes this header and uses what it
 * does not replace with its own SIMD code.
 *
 * No libc header is included: the few math.h/string.h functions used are called
 * as compiler builtins (__builtin_expf, __builtin_memcpy, ...), so the kernels
 * compile to bitcode without a target sysroot (-nostdlibinc). What does not fold
 * to an instruction becomes a call to libm (expf, pow, log, cos, sin) or memcpy
 * in the final link.
 *
 * Weight blocks (byte for byte as GGUF/ggml stores them):
 *   q4_0 (32)  f16 d; u8 qs[16]            x = d * (q - 8)
 *   q4_1 (32)  f16 d, m; u8 qs[16]         x = d * q + m
 *   q5_0 (32)  f16 d; u8 qh[4]; u8 qs[16]  x = d * (q - 16)
 *   q5_1 (32)  f16 d, m; qh[4]; qs[16]     x = d * q + m
 *   q8_0 (32)  f16 d; i8 qs[32]            x = d * q
 *     value j < 16 is the low nibble of qs[j], value j + 16 the high nibble; the
 *     fifth bit of value j (q5_*) is bit j of qh read as a little-endian u32.
 *   q4_k (256) f16 d, dmin; u8 scales[12]; u8 qs[128]
 *   q5_k (256) f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *     8 sub-blocks of 32 with 6-bit scale sc and min m: x = d * sc * q - dmin * m.
 *     Chunk c (64 values) reads qs[32c .. 32c+31]: its first 32 values (sub-block
 *     2c) are the low nibbles, the next 32 (sub-block 2c+1) the high nibbles; the
 *     fifth bit (q5_k) of value l of the chunk is bit 2c of qh[l] (low) or bit
 *     2c+1 (high).
 *   q6_k (256) u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
 *     16 sub-blocks of 16: x = d * scales[s] * (q - 32). Half n (128 values)
 *     reads ql[64n..], qh[32n..]; value l + 32k (l < 32, k < 4) of the half takes
 *     its low 4 bits from ql[l] (k=0), ql[l+32] (k=1), ql[l]>>4 (k=2), ql[l+32]>>4
 *     (k=3) and its high 2 bits from qh[l] >> 2k.
 *
 * milm's own 4-bit formats (common/milm/formats.h; never in a GGUF file):
 *   q4_g128 (128) f16 d; u8 qs[64]         x = d * (q - 8)
 *   q4_g256 (256) f16 d; u8 qs[128]        x = d * (q - 8)
 *   q4_g64  (64)  f16 d; u8 qs[32]         x = d * (q - 8)
 *     sub-block s (32 values) is q4_0's nibble layout at qs[16s ..]: one scale
 *     for 4 (8, 2) sub-blocks.
 *===----------------------------------------------------------------------===*/
#ifndef MILM_UK_INTERNAL_H
#define MILM_UK_INTERNAL_H

#include "milm_ukernels.h"


#define UK_QK 32
#define UK_QK_K 256
/* outlier_columns_f16 gathers a token's columns this many at a time. */
#define UK_OUTLIER_CHUNK 64

typedef struct { uint16_t d; uint8_t qs[16]; } uk_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } uk_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } uk_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } uk_block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } uk_block_q8_0;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } uk_block_q4_k;
typedef struct {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
} uk_block_q5_k;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } uk_block_q6_k;
typedef struct { uint16_t d; uint8_t qs[64]; } uk_block_q4_g128;
typedef struct { uint16_t d; uint8_t qs[128]; } uk_block_q4_g256;
typedef struct { uint16_t d; uint8_t qs[32]; } uk_block_q4_g64;
/* milm's packed layouts (see milm_uk_repack_<layout>): 8 rows interleaved 4
 * bytes at a time. Byte i of row r's array (qs, ql, qh) is at [uk_x8_at(r, i)]
 * of the packed block's array; per-row scale bytes are transposed (byte i of
 * row r at [8i + r]). */
static inline int uk_x8_at(int r, int i) { return 32 * (i >> 2) + 4 * r + (i & 3); }
typedef struct { uint16_t d[8]; uint8_t qs[128]; } uk_block_q4_0x8;
typedef struct { uint16_t d[8]; int8_t qs[256]; } uk_block_q8_0x8;
typedef struct {
  uint16_t d[8], dmin[8];
  uint8_t scales[96];
  uint8_t qs[1024];
} uk_block_q4_kx8;
typedef struct {
  uint16_t d[8];
  int8_t scales[128];
  uint8_t q[1536]; /* 16 sub-blocks of 96 bytes: see milm_uk_repack_q6_kx8 */
} uk_block_q6_kx8;
/* q4_g128x8 / q4_g256x8: the 8 rows' scales, then each 32-value sub-block as
 * q4_0x8's 128 bytes (see milm_uk_repack_q4_g128x8). */
typedef struct { uint16_t d[8]; uint8_t qs[512]; } uk_block_q4_g128x8;
typedef struct { uint16_t d[8]; uint8_t qs[1024]; } uk_block_q4_g256x8;
typedef struct { uint16_t d[8]; uint8_t qs[256]; } uk_block_q4_g64x8;
/* 32 rows a block (the Hexagon HVX layouts, milm_ukernels.h): the codes as
 * 128-byte vectors first, the 32 rows' scales after them. */
typedef struct { uint8_t qs[512]; uint16_t d[32]; } uk_block_q4_0x32;
typedef struct { int8_t qs[1024]; uint16_t d[32]; } uk_block_q8_0x32;

/* The structs against the one format table (common/milm/formats.h). */
_Static_assert(sizeof(uk_block_q4_0) == MILM_BLOCK_BYTES_Q4_0, "q4_0 block");
_Static_assert(sizeof(uk_block_q4_1) == MILM_BLOCK_BYTES_Q4_1, "q4_1 block");
_Static_assert(sizeof(uk_block_q5_0) == MILM_BLOCK_BYTES_Q5_0, "q5_0 block");
_Static_assert(sizeof(uk_block_q5_1) == MILM_BLOCK_BYTES_Q5_1, "q5_1 block");
_Static_assert(sizeof(uk_block_q8_0) == MILM_BLOCK_BYTES_Q8_0, "q8_0 block");
_Static_assert(sizeof(uk_block_q4_k) == MILM_BLOCK_BYTES_Q4_K, "q4_k block");
_Static_assert(sizeof(uk_block_q5_k) == MILM_BLOCK_BYTES_Q5_K, "q5_k block");
_Static_assert(sizeof(uk_block_q6_k) == MILM_BLOCK_BYTES_Q6_K, "q6_k block");
_Static_assert(sizeof(uk_block_q4_g128) == MILM_BLOCK_BYTES_Q4_G128, "q4_g128 block");
_Static_assert(sizeof(uk_block_q4_g256) == MILM_BLOCK_BYTES_Q4_G256, "q4_g256 block");
_Static_assert(sizeof(uk_block_q4_g64) == MILM_BLOCK_BYTES_Q4_G64, "q4_g64 block");
/* A packed block holds one block of each row of its group. */
#define MILM_X(ID, id, name, code, base, group)                                          \
  _Static_assert(sizeof(uk_block_##id) == (group) * MILM_BLOCK_BYTES_##base, #id " block");
MILM_PACKED_LAYOUTS(MILM_X)
#undef MILM_X
_Static_assert(sizeof(milm_uk_block_q8_32) == MILM_ACT_Q8_32_BYTES, "q8_32 activation block");
_Static_assert(sizeof(milm_uk_block_q8_k) == MILM_ACT_Q8_K_BYTES, "q8_k activation block");

#if defined(__clang__)
#define UK_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define UK_NO_CONTRACT
#endif

/*---- scalar conversions ---------------------------------------------------*/

static inline uint32_t uk_f32_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
static inline float uk_bits_f32(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

/* binary16 -> f32, exact. Where the instruction set converts binary16 itself
 * (AArch64's FCVT is base Armv8; x86's F16C) the compiler's __fp16 conversion
 * is one instruction; the portable version, a dozen integer operations per
 * scale, dominated the decode loops on AArch64 (bench/mca.sh). They differ only
 * in the payload of signalling NaNs, which the hardware quiets. */
static inline float uk_fp16_to_fp32_portable(uint16_t h);
#if defined(__aarch64__) || defined(__F16C__)
static inline float uk_fp16_to_fp32(uint16_t h) {
  __fp16 v;
  __builtin_memcpy(&v, &h, 2);
  return (float)v;
}
#else
static inline float uk_fp16_to_fp32(uint16_t h) { return uk_fp16_to_fp32_portable(h); }
#endif

/* The 15 magnitude bits shifted into an f32's place read as a number 2^112
 * too small (normal and subnormal alike); infinities and NaNs get the f32
 * all-ones exponent. */
static inline float uk_fp16_to_fp32_portable(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t mag = (uint32_t)(h & 0x7fffu) << 13;
  float f;
  if ((h & 0x7c00u) == 0x7c00u)
    f = uk_bits_f32(mag | 0x7f800000u);
  else
    f = uk_bits_f32(mag) * 0x1p112f;
  return uk_bits_f32(uk_f32_bits(f) | sign);
}

/* f32 -> binary16, round to nearest even; overflow gives inf, NaN stays NaN. */
static inline uint16_t uk_fp32_to_fp16(float f) {
  UK_NO_CONTRACT
  const uint32_t x = uk_f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) /* NaN: quiet, top payload bits kept */
    return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) /* >= 65520 (or inf): inf */
    return (uint16_t)(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    /* Below 2^-14: a binary16 subnormal. In [0.5, 1) an f32's ulp is 2^-24,
     * binary16's subnormal step, so adding 0.5 rounds to nearest even for us. */
    const float t = uk_bits_f32(ax) + 0.5f;
    return (uint16_t)(sign | (uk_f32_bits(t) - 0x3f000000u));
  }
  /* Rebias the exponent by -112 and round the 13 dropped bits to nearest even. */
  const uint32_t r = ax + 0xc8000fffu + ((ax >> 13) & 1u);
  return (uint16_t)(sign | (r >> 13));
}

static inline float uk_bf16_to_fp32(uint16_t h) { return uk_bits_f32((uint32_t)h << 16); }

/* Round to nearest even for |v| < 2^22 (the activation quantizers' range). */
static inline float uk_round_ne(float v) {
  UK_NO_CONTRACT
  const float magic = 12582912.0f; /* 1.5 * 2^23 */
  const float t = v + magic; /* the rounding happens here (no fast-math) */
  return t - magic;
}

static inline uint32_t uk_load_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

/* 6-bit scale and min of sub-block j (0..7) of a q4_k/q5_k block. */
static inline void uk_scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/*---- format tables ----------------------------------------------------------*/

/* From the one table (common/milm/formats.h); a packed layout answers for
 * one row of its base format. */
#define UK_FORMAT_SWITCH(f, FMT_CASE, PACKED_CASE, otherwise)                            \
  switch (f) {                                                                           \
    MILM_STORAGE_FORMATS(FMT_CASE)                                                       \
    MILM_PACKED_LAYOUTS(PACKED_CASE)                                                     \
  default: return otherwise;                                                             \
  }

static inline int64_t uk_block_elems(uint32_t f) {
#define UK_F(ID, id, name, code, elems, bytes, act) case code: return elems;
#define UK_P(ID, id, name, code, base, group) case code: return uk_block_elems(MILM_UK_##base);
  UK_FORMAT_SWITCH(f, UK_F, UK_P, 0)
#undef UK_F
#undef UK_P
}

static inline int64_t uk_block_bytes(uint32_t f) {
#define UK_F(ID, id, name, code, elems, bytes, act) case code: return bytes;
#define UK_P(ID, id, name, code, base, group) case code: return MILM_BLOCK_BYTES_##base;
  UK_FORMAT_SWITCH(f, UK_F, UK_P, 0)
#undef UK_F
#undef UK_P
}

static inline int32_t uk_act_kind(uint32_t f) {
#define UK_F(ID, id, name, code, elems, bytes, act) case code: return MILM_UK_ACT_##act;
#define UK_P(ID, id, name, code, base, group) case code: return uk_act_kind(MILM_UK_##base);
  UK_FORMAT_SWITCH(f, UK_F, UK_P, -1)
#undef UK_F
#undef UK_P
}

static inline int64_t uk_row_group(uint32_t f) {
#define UK_F(ID, id, name, code, elems, bytes, act) case code: return 1;
#define UK_P(ID, id, name, code, base, group) case code: return group;
  UK_FORMAT_SWITCH(f, UK_F, UK_P, 1)
#undef UK_F
#undef UK_P
}

static inline size_t uk_weight_row_bytes(uint32_t f, int64_t K) {
  const int64_t be = uk_block_elems(f);
  if (be == 0 || K < 0 || K % be != 0)
    return 0;
  return (size_t)(K / be) * (size_t)uk_block_bytes(f);
}

static inline size_t uk_act_row_bytes(uint32_t f, int64_t K) {
  switch (uk_act_kind(f)) {
  case MILM_UK_ACT_Q8_32: return (size_t)(K / UK_QK) * sizeof(milm_uk_block_q8_32);
  case MILM_UK_ACT_Q8_K: return (size_t)(K / UK_QK_K) * sizeof(milm_uk_block_q8_k);
  default: return 0;
  }
}

/*---- activation quantization (portable) -----------------------------------*/

static inline void uk_quantize_block_q8_32(const float *x, milm_uk_block_q8_32 *b) {
  UK_NO_CONTRACT
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float a = __builtin_fabsf(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int32_t sum = 0;
  for (int j = 0; j < 32; ++j) {
    float q = uk_round_ne(x[j] * id);
    q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
    b->qs[j] = (int8_t)q;
    sum += b->qs[j];
  }
  b->d = d;
  b->sum = sum;
}

static inline void uk_quantize_block_q8_k(const float *x, milm_uk_block_q8_k *b) {
  UK_NO_CONTRACT
  float amax = 0.0f;
  for (int j = 0; j < 256; ++j) {
    const float a = __builtin_fabsf(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 256; ++j) {
    float q = uk_round_ne(x[j] * id);
    q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
    b->qs[j] = (int8_t)q;
  }
  for (int s = 0; s < 16; ++s) {
    int sum = 0;
    for (int j = 0; j < 16; ++j)
      sum += b->qs[16 * s + j];
    b->bsums[s] = (int16_t)sum;
  }
  b->d = d;
}

/*---- dequantization of one block ------------------------------------------*/

/* S sub-blocks of q4_0's nibble layout under one scale: q4_0 (S = 1),
 * q4_g64, q4_g128, q4_g256 (S = 2, 4, 8). */
static inline void uk_dequant_q4_groups(uint16_t dh, const uint8_t *qs, int S, float *y) {
  const float d = uk_fp16_to_fp32(dh);
  for (int s = 0; s < S; ++s)
    for (int j = 0; j < 16; ++j) {
      y[32 * s + j] = (float)((qs[16 * s + j] & 0xF) - 8) * d;
      y[32 * s + j + 16] = (float)((qs[16 * s + j] >> 4) - 8) * d;
    }
}
static inline void uk_dequant_q4_0(const uk_block_q4_0 *b, float *y) {
  uk_dequant_q4_groups(b->d, b->qs, 1, y);
}
static inline void uk_dequant_q4_g128(const uk_block_q4_g128 *b, float *y) {
  uk_dequant_q4_groups(b->d, b->qs, 4, y);
}
static inline void uk_dequant_q4_g256(const uk_block_q4_g256 *b, float *y) {
  uk_dequant_q4_groups(b->d, b->qs, 8, y);
}
static inline void uk_dequant_q4_g64(const uk_block_q4_g64 *b, float *y) {
  uk_dequant_q4_groups(b->d, b->qs, 2, y);
}
static inline void uk_dequant_q4_1(const uk_block_q4_1 *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d), m = uk_fp16_to_fp32(b->m);
  for (int j = 0; j < 16; ++j) {
    y[j] = (float)(b->qs[j] & 0xF) * d + m;
    y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
  }
}
static inline void uk_dequant_q5_0(const uk_block_q5_0 *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d);
  const uint32_t qh = uk_load_u32le(b->qh);
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
    const int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    y[j] = (float)(lo - 16) * d;
    y[j + 16] = (float)(hi - 16) * d;
  }
}
static inline void uk_dequant_q5_1(const uk_block_q5_1 *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d), m = uk_fp16_to_fp32(b->m);
  const uint32_t qh = uk_load_u32le(b->qh);
  for (int j = 0; j < 16; ++j) {
    const int lo = (b->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
    const int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    y[j] = (float)lo * d + m;
    y[j + 16] = (float)hi * d + m;
  }
}
static inline void uk_dequant_q8_0(const uk_block_q8_0 *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d);
  for (int j = 0; j < 32; ++j)
    y[j] = (float)b->qs[j] * d;
}
static inline void uk_dequant_q4_k(const uk_block_q4_k *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d), dmin = uk_fp16_to_fp32(b->dmin);
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    uk_scale_min_k4(2 * c, b->scales, &sc0, &m0);
    uk_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
    const float d0 = d * (float)sc0, n0 = dmin * (float)m0;
    const float d1 = d * (float)sc1, n1 = dmin * (float)m1;
    const uint8_t *q = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      y[64 * c + l] = d0 * (float)(q[l] & 0xF) - n0;
      y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - n1;
    }
  }
}
static inline void uk_dequant_q5_k(const uk_block_q5_k *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d), dmin = uk_fp16_to_fp32(b->dmin);
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    uk_scale_min_k4(2 * c, b->scales, &sc0, &m0);
    uk_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
    const float d0 = d * (float)sc0, n0 = dmin * (float)m0;
    const float d1 = d * (float)sc1, n1 = dmin * (float)m1;
    const uint8_t *q = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[l] & 0xF) | (((b->qh[l] >> (2 * c)) & 1) << 4);
      const int hi = (q[l] >> 4) | (((b->qh[l] >> (2 * c + 1)) & 1) << 4);
      y[64 * c + l] = d0 * (float)lo - n0;
      y[64 * c + 32 + l] = d1 * (float)hi - n1;
    }
  }
}
/* Value i (6 bits, unsigned, before the -32) of a q6_k block: value l + 32k of
 * half n (see the layout above). */
static inline int uk_q6_k_value(const uk_block_q6_k *b, int i) {
  const int n = i >> 7, k = (i >> 5) & 3, l = i & 31;
  const uint8_t ql = b->ql[64 * n + 32 * (k & 1) + l];
  const uint8_t qh = b->qh[32 * n + l];
  return ((k & 2 ? ql >> 4 : ql) & 0xF) | (((qh >> (2 * k)) & 3) << 4);
}

static inline void uk_dequant_q6_k(const uk_block_q6_k *b, float *y) {
  const float d = uk_fp16_to_fp32(b->d);
  for (int i = 0; i < 256; ++i) /* value i uses the scale of its 16-value sub-block */
    y[i] = d * (float)b->scales[i >> 4] * (float)(uk_q6_k_value(b, i) - 32);
}

/* Any block-format row (n a multiple of the block size) or float row. */
static inline void uk_dequant_row(uint32_t f, const void *src, float *dst, int64_t n) {
  const int64_t be = uk_block_elems(f);
  if (be == 0)
    return;
  const int64_t nb = n / be;
  switch (f) {
  case MILM_UK_F32: __builtin_memcpy(dst, src, (size_t)n * 4); break;
  case MILM_UK_F16: {
    const uint16_t *s = (const uint16_t *)src;
    for (int64_t i = 0; i < n; ++i) dst[i] = uk_fp16_to_fp32(s[i]);
    break;
  }
  case MILM_UK_BF16: {
    const uint16_t *s = (const uint16_t *)src;
    for (int64_t i = 0; i < n; ++i) dst[i] = uk_bf16_to_fp32(s[i]);
    break;
  }
#define UK_DQ_CASE(F, fmt)                                                          \
  case F:                                                                           \
    for (int64_t b = 0; b < nb; ++b)                                                \
      uk_dequant_##fmt((const uk_block_##fmt *)src + b, dst + b * be);              \
    break;
  UK_DQ_CASE(MILM_UK_Q4_0, q4_0)
  UK_DQ_CASE(MILM_UK_Q4_1, q4_1)
  UK_DQ_CASE(MILM_UK_Q5_0, q5_0)
  UK_DQ_CASE(MILM_UK_Q5_1, q5_1)
  UK_DQ_CASE(MILM_UK_Q8_0, q8_0)
  UK_DQ_CASE(MILM_UK_Q4_K, q4_k)
  UK_DQ_CASE(MILM_UK_Q5_K, q5_k)
  UK_DQ_CASE(MILM_UK_Q6_K, q6_k)
  UK_DQ_CASE(MILM_UK_Q4_G128, q4_g128)
  UK_DQ_CASE(MILM_UK_Q4_G256, q4_g256)
  UK_DQ_CASE(MILM_UK_Q4_G64, q4_g64)
#undef UK_DQ_CASE
  default: break;
  }
}

/*---- outlier columns -----------------------------------------------------------*/

/* milm_uk_outlier_columns_f16 with DOT(side_row, xg, n), an instruction set's
 * f16 x f32 dot product of n values: a token's columns gathered
 * UK_OUTLIER_CHUNK at a time, then one dot per row, added to y. */
#define UK_DEFINE_OUTLIER_COLUMNS_F16(DOT)                                             \
  void MILM_UK_FN(outlier_columns_f16)(const uint16_t *side, const int32_t *cols,      \
                                       int64_t k, const float *x, int64_t ldx,         \
                                       float *y, int64_t ldy, int64_t T,               \
                                       int64_t o_begin, int64_t o_end) {               \
    float xg[UK_OUTLIER_CHUNK];                                                        \
    for (int64_t t = 0; t < T; ++t)                                                    \
      for (int64_t j0 = 0; j0 < k; j0 += UK_OUTLIER_CHUNK) {                           \
        const int64_t n = k - j0 < UK_OUTLIER_CHUNK ? k - j0 : UK_OUTLIER_CHUNK;       \
        for (int64_t j = 0; j < n; ++j)                                                \
          xg[j] = x[t * ldx + cols[j0 + j]];                                           \
        for (int64_t o = o_begin; o < o_end; ++o)                                      \
          y[t * ldy + o] += DOT(side + o * k + j0, xg, n);                             \
      }                                                                                \
  }

/*---- integer dot products of one weight block with one activation block ---*/

static inline float uk_dot_q4_0(const uk_block_q4_0 *w, const milm_uk_block_q8_32 *a) {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j)
    s += ((w->qs[j] & 0xF) - 8) * a->qs[j] + ((w->qs[j] >> 4) - 8) * a->qs[j + 16];
  return uk_fp16_to_fp32(w->d) * a->d * (float)s;
}
/* q4_g128 / q4_g256: per 32-value sub-block s the exact integer
 * sum_j q_j * a_j - 8 * sum(a), times the activation block's scale, added up in
 * float (one fma a sub-block), then times the weight scale once. The packed
 * (x8) kernels do the same float operations in the same order. */
static inline float uk_dot_q4_groups(uint16_t dh, const uint8_t *qs, int S,
                                     const milm_uk_block_q8_32 *a) {
  float acc = 0.0f;
  for (int s = 0; s < S; ++s) {
    int32_t i = 0;
    for (int j = 0; j < 16; ++j)
      i += (qs[16 * s + j] & 0xF) * a[s].qs[j] + (qs[16 * s + j] >> 4) * a[s].qs[j + 16];
    i -= 8 * a[s].sum;
    acc = __builtin_fmaf((float)i, a[s].d, acc);
  }
  return acc * uk_fp16_to_fp32(dh);
}
static inline float uk_dot_q4_1(const uk_block_q4_1 *w, const milm_uk_block_q8_32 *a) {
  int32_t s = 0;
  for (int j = 0; j < 16; ++j)
    s += (w->qs[j] & 0xF) * a->qs[j] + (w->qs[j] >> 4) * a->qs[j + 16];
  return uk_fp16_to_fp32(w->d) * a->d * (float)s +
         uk_fp16_to_fp32(w->m) * a->d * (float)a->sum;
}
static inline float uk_dot_q5_0(const uk_block_q5_0 *w, const milm_uk_block_q8_32 *a) {
  const uint32_t qh = uk_load_u32le(w->qh);
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (w->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
    const int hi = (w->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    s += (lo - 16) * a->qs[j] + (hi - 16) * a->qs[j + 16];
  }
  return uk_fp16_to_fp32(w->d) * a->d * (float)s;
}
static inline float uk_dot_q5_1(const uk_block_q5_1 *w, const milm_uk_block_q8_32 *a) {
  const uint32_t qh = uk_load_u32le(w->qh);
  int32_t s = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (w->qs[j] & 0xF) | (int)(((qh >> j) & 1u) << 4);
    const int hi = (w->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    s += lo * a->qs[j] + hi * a->qs[j + 16];
  }
  return uk_fp16_to_fp32(w->d) * a->d * (float)s +
         uk_fp16_to_fp32(w->m) * a->d * (float)a->sum;
}
static inline float uk_dot_q8_0(const uk_block_q8_0 *w, const milm_uk_block_q8_32 *a) {
  int32_t s = 0;
  for (int j = 0; j < 32; ++j)
    s += w->qs[j] * a->qs[j];
  return uk_fp16_to_fp32(w->d) * a->d * (float)s;
}
/* q4_k: d*dx * sum_j sc_j * (q . a)_j  -  dmin*dx * sum_j m_j * sum(a)_j. */
static inline float uk_dot_q4_k(const uk_block_q4_k *w, const milm_uk_block_q8_k *a) {
  int32_t sumq = 0, summ = 0;
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    uk_scale_min_k4(2 * c, w->scales, &sc0, &m0);
    uk_scale_min_k4(2 * c + 1, w->scales, &sc1, &m1);
    const uint8_t *q = w->qs + 32 * c;
    const int8_t *x = a->qs + 64 * c;
    int32_t s0 = 0, s1 = 0;
    for (int l = 0; l < 32; ++l) {
      s0 += (q[l] & 0xF) * x[l];
      s1 += (q[l] >> 4) * x[l + 32];
    }
    sumq += sc0 * s0 + sc1 * s1;
    summ += m0 * (a->bsums[4 * c] + a->bsums[4 * c + 1]) +
            m1 * (a->bsums[4 * c + 2] + a->bsums[4 * c + 3]);
  }
  return a->d * (uk_fp16_to_fp32(w->d) * (float)sumq - uk_fp16_to_fp32(w->dmin) * (float)summ);
}
static inline float uk_dot_q5_k(const uk_block_q5_k *w, const milm_uk_block_q8_k *a) {
  int32_t sumq = 0, summ = 0;
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    uk_scale_min_k4(2 * c, w->scales, &sc0, &m0);
    uk_scale_min_k4(2 * c + 1, w->scales, &sc1, &m1);
    const uint8_t *q = w->qs + 32 * c;
    const int8_t *x = a->qs + 64 * c;
    int32_t s0 = 0, s1 = 0;
    for (int l = 0; l < 32; ++l) {
      const int lo = (q[l] & 0xF) | (((w->qh[l] >> (2 * c)) & 1) << 4);
      const int hi = (q[l] >> 4) | (((w->qh[l] >> (2 * c + 1)) & 1) << 4);
      s0 += lo * x[l];
      s1 += hi * x[l + 32];
    }
    sumq += sc0 * s0 + sc1 * s1;
    summ += m0 * (a->bsums[4 * c] + a->bsums[4 * c + 1]) +
            m1 * (a->bsums[4 * c + 2] + a->bsums[4 * c + 3]);
  }
  return a->d * (uk_fp16_to_fp32(w->d) * (float)sumq - uk_fp16_to_fp32(w->dmin) * (float)summ);
}
/* q6_k: d*dx * sum_s sc_s * ((q . a)_s - 32 * sum(a)_s), q unsigned in [0, 64). */
static inline float uk_dot_q6_k(const uk_block_q6_k *w, const milm_uk_block_q8_k *a) {
  int32_t sum = 0;
  for (int n = 0; n < 2; ++n) {
    const uint8_t *ql = w->ql + 64 * n, *qh = w->qh + 32 * n;
    const int8_t *x = a->qs + 128 * n;
    int32_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* [k * 2 + l / 16] */
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      s[0 + is] += ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) * x[l];
      s[2 + is] += ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) * x[l + 32];
      s[4 + is] += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * x[l + 64];
      s[6 + is] += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * x[l + 96];
    }
    for (int j = 0; j < 8; ++j)
      sum += w->scales[8 * n + j] * (s[j] - 32 * a->bsums[8 * n + j]);
  }
  return uk_fp16_to_fp32(w->d) * a->d * (float)sum;
}

#endif /* MILM_UK_INTERNAL_H */
