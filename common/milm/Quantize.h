//===- Quantize.h - Block-format quantization and dequantization ----------===//
//
// Conversions between f32 and every StorageFormat, with exactly GGUF's (ggml's)
// bit layouts:
//
//   f16, bf16      IEEE binary16 / bfloat16, converted with round-to-nearest-even
//   q4_0  (32)     f16 d; u8 qs[16]        x = d * (q - 8)
//   q4_1  (32)     f16 d, m; u8 qs[16]     x = d * q + m
//   q5_0  (32)     f16 d; u8 qh[4]; qs[16] x = d * (q - 16)
//   q5_1  (32)     f16 d, m; qh[4]; qs[16] x = d * q + m
//   q8_0  (32)     f16 d; i8 qs[32]        x = d * q
//       In the 32-value formats value j (j < 16) is the low nibble of qs[j] and value
//       j + 16 the high nibble; for q5_* the fifth bit of value j is bit j of qh
//       read as a little-endian u32.
//   q4_k  (256)    f16 d, dmin; u8 scales[12]; u8 qs[128]
//   q5_k  (256)    f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//       8 sub-blocks of 32 values, each with a 6-bit scale and 6-bit min packed into
//       `scales`: x = d * sc * q - dmin * m.
//   q6_k  (256)    u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
//       16 sub-blocks of 16 values: x = d * scales[s] * (q - 32).
//   q4_g128 (128)  f16 d; u8 qs[64]        x = d * (q - 8)
//   q4_g256 (256)  f16 d; u8 qs[128]       x = d * (q - 8)
//   q4_g64  (64)   f16 d; u8 qs[32]        x = d * (q - 8)
//       milm's own (never in a GGUF file): sub-block s of 32 values is q4_0's
//       nibble layout at qs[16s..]. quantizeRow rounds as q4_0 does over the
//       whole block; encodeQ4GroupsExact stores values that are already on a
//       block's grid (the 4-bit schemes of passes/Rounding.h) without change.
//
// The 32-value formats are quantized with ggml's reference rounding, so the same
// f32 input gives the same bytes as llama.cpp's quantizer (without an importance
// matrix). The K formats use a weighted scale/min search per sub-block; they give
// valid blocks of good quality but not byte-identical ones.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_COMMON_QUANTIZE_H
#define MILM_COMMON_QUANTIZE_H

#include "common/milm/StorageFormat.h"

#include <cstdint>
#include <cstring>

namespace milm {

//===----------------------------------------------------------------------===//
// Scalar conversions
//===----------------------------------------------------------------------===//

/// binary16 -> f32, exact (subnormals, infinities and NaN payloads kept).
inline float fp16ToFp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  } else {
    // Zero or subnormal: man * 2^-24 is exact in f32.
    float f = static_cast<float>(man) * 0x1p-24f;
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

/// f32 -> binary16 with round-to-nearest-even; overflow gives +-inf, NaN stays a
/// (quiet) NaN with the top payload bits kept.
inline uint16_t fp32ToFp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) // inf or NaN
    return static_cast<uint16_t>(
        sign | 0x7c00u | (ax > 0x7f800000u ? (0x200u | ((ax >> 13) & 0x3ffu)) : 0u));
  if (ax >= 0x477ff000u) // >= 65520 rounds to infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    // Result is a binary16 subnormal (or rounds up to the smallest normal). Adding
    // 0.5 puts the value in [0.5, 1), whose ulp is 2^-24 = the binary16 subnormal
    // step, so the FPU does the round-to-nearest-even for us.
    float a;
    std::memcpy(&a, &ax, 4);
    float t = a + 0.5f;
    uint32_t tb;
    std::memcpy(&tb, &t, 4);
    return static_cast<uint16_t>(sign | (tb - 0x3f000000u));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to even.
  uint32_t odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + odd;
  return static_cast<uint16_t>(sign | (ax >> 13));
}

/// bfloat16 -> f32, exact.
inline float bf16ToFp32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

/// f32 -> bfloat16 with round-to-nearest-even; NaN stays a quiet NaN.
inline uint16_t fp32ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

//===----------------------------------------------------------------------===//
// Block structures (ggml's, byte for byte)
//===----------------------------------------------------------------------===//

namespace blocks {
constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32;
constexpr int QK_K = 256;
constexpr int K_SCALE_SIZE = 12;

struct BlockQ4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[QK4_1 / 2]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[QK8_0]; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ4_0) == 18, "q4_0 block");
static_assert(sizeof(BlockQ4_1) == 20, "q4_1 block");
static_assert(sizeof(BlockQ5_0) == 22, "q5_0 block");
static_assert(sizeof(BlockQ5_1) == 24, "q5_1 block");
static_assert(sizeof(BlockQ8_0) == 34, "q8_0 block");
static_assert(sizeof(BlockQ4_K) == 144, "q4_k block");
static_assert(sizeof(BlockQ5_K) == 176, "q5_k block");
static_assert(sizeof(BlockQ6_K) == 210, "q6_k block");

/// Sub-block `j` (0..7) scale and min of a q4_k / q5_k block's packed `scales`.
inline void unpackScaleMinK4(int j, const uint8_t *q, uint8_t &sc, uint8_t &m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
} // namespace blocks

//===----------------------------------------------------------------------===//
// Rows
//===----------------------------------------------------------------------===//

/// Decodes `n` values of format `f` from `src` into `dst`. `n` must be a multiple of
/// the format's block size (checked with an assertion). Encoded data needs only
/// 2-byte alignment (every block is a whole number of uint16_t; GGUF tensor data
/// is 32-byte aligned).
void dequantizeRow(StorageFormat f, const void *src, float *dst, int64_t n);

/// Encodes `n` values from `src` into `dst` (rowBytes(f, n) bytes). `n` must be a
/// multiple of the format's block size (checked with an assertion). Deterministic:
/// the same input gives the same bytes on every host and thread count.
/// Throughput on one core of the development VM (AMD EPYC, SSE2 build): the float
/// and 32-value formats ~0.5-1 G values/s, q4_k/q5_k ~25-35 M/s, q6_k ~40 M/s.
void quantizeRow(StorageFormat f, const float *src, void *dst, int64_t n);

/// Stores `n` values in q4_g64, q4_g128, q4_g256 or q4_0 exactly: every block's values must
/// be d * q for one binary16 scale d (of either sign, as q4_0's is) and
/// integers q in [-8, 7] (what the
/// symmetric 4-bit schemes of passes/Rounding.h give). False, with `dst`
/// partly written, when a block is not (or `f` is another format).
bool encodeQ4GroupsExact(StorageFormat f, const float *x, void *dst, int64_t n);

/// Stores `n` values in q4_1 exactly: every group of `group` values (0: all
/// n; a multiple of 32 dividing n) must be q * d + m for binary16 d >= 0 and
/// m and integers q in [0, 15] (what the asymmetric 4-bit schemes of
/// passes/Rounding.h give); each 32-value block then carries its group's d
/// and m. The bytes are decoded again and compared bit for bit with `x`.
/// False, with `dst` partly written, when a group is not on such a grid.
bool encodeQ4_1Exact(const float *x, void *dst, int64_t n, int64_t group);

/// Bulk conversions used by the row functions; exposed for callers that only
/// need the float formats.
void convertFp16ToFp32(const uint16_t *src, float *dst, int64_t n);
void convertFp32ToFp16(const float *src, uint16_t *dst, int64_t n);
void convertBf16ToFp32(const uint16_t *src, float *dst, int64_t n);
void convertFp32ToBf16(const float *src, uint16_t *dst, int64_t n);

} // namespace milm

#endif
