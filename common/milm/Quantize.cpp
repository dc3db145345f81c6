//===- Quantize.cpp - Block-format quantization and dequantization --------===//
//
// Layouts and the reference rounding of the 32-value formats follow ggml exactly
// (see Quantize.h). This file is compiled with -ffp-contract=off: fusing a
// multiply and an add into an FMA would change the rounding of the reference
// quantizers and, with it, their bytes.
//
//===----------------------------------------------------------------------===//
#include "common/milm/Quantize.h"

#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cmath>
#include <vector>

namespace milm {

using namespace blocks;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Round to nearest, ties to even, for |v| < 2^22 (the caller clamps afterwards).
/// Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
static inline int nearestInt(float v) {
  float t = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &t, 4);
  return (i & 0x007fffff) - 0x00400000;
}

/// C's roundf (ties away from zero) for |v| < 2^31, without a libm call.
static inline int roundHalfAway(float v) {
  int q = static_cast<int>(v); // truncates toward zero
  float frac = v - static_cast<float>(q);
  return q + (frac >= 0.5f) - (frac <= -0.5f);
}

void convertFp16ToFp32(const uint16_t *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = fp16ToFp32(src[i]);
}
void convertFp32ToFp16(const float *src, uint16_t *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = fp32ToFp16(src[i]);
}
void convertBf16ToFp32(const uint16_t *src, float *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = bf16ToFp32(src[i]);
}
void convertFp32ToBf16(const float *src, uint16_t *dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = fp32ToBf16(src[i]);
}

//===----------------------------------------------------------------------===//
// 32-value formats: dequantization
//===----------------------------------------------------------------------===//

// Blocks of S sub-blocks of 32 values in q4_0's nibble layout under one f16
// scale: q4_0 (S = 1) and milm's own q4_g64/q4_g128/q4_g256 (S = 2, 4, 8).
static void dequantQ4Groups(const uint8_t *src, float *y, int64_t nb, int S) {
  const size_t blockBytes = 2 + 16 * size_t(S);
  for (int64_t i = 0; i < nb; ++i, src += blockBytes, y += 32 * S) {
    uint16_t dh;
    std::memcpy(&dh, src, 2);
    const float d = fp16ToFp32(dh);
    const uint8_t *qs = src + 2;
    for (int s = 0; s < S; ++s)
      for (int j = 0; j < 16; ++j) {
        y[32 * s + j] = static_cast<float>((qs[16 * s + j] & 0xF) - 8) * d;
        y[32 * s + j + 16] = static_cast<float>((qs[16 * s + j] >> 4) - 8) * d;
      }
  }
}

static void dequantQ4_0(const BlockQ4_0 *b, float *y, int64_t nb) {
  static_assert(sizeof(BlockQ4_0) == 2 + 16, "q4_0 is one sub-block of dequantQ4Groups");
  dequantQ4Groups(reinterpret_cast<const uint8_t *>(b), y, nb, 1);
}

static void dequantQ4_1(const BlockQ4_1 *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16ToFp32(b[i].d), m = fp16ToFp32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(b[i].qs[j] & 0xF) * d + m;
      y[j + 16] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

static inline uint32_t loadU32LE(const uint8_t *p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
static inline void storeU32LE(uint8_t *p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

static void dequantQ5_0(const BlockQ5_0 *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16ToFp32(b[i].d);
    const uint32_t qh = loadU32LE(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>(((b[i].qs[j] & 0xF) | h0) - 16) * d;
      y[j + 16] = static_cast<float>(((b[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

static void dequantQ5_1(const BlockQ5_1 *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16ToFp32(b[i].d), m = fp16ToFp32(b[i].m);
    const uint32_t qh = loadU32LE(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>((b[i].qs[j] & 0xF) | h0) * d + m;
      y[j + 16] = static_cast<float>((b[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

static void dequantQ8_0(const BlockQ8_0 *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = fp16ToFp32(b[i].d);
    for (int j = 0; j < 32; ++j)
      y[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

/// A block of 32 * S values under scale d: d stored as f16, the codes by
/// ggml's q4_0 rounding (times the reciprocal of the f32 d, + 8.5, truncated,
/// at most 15), so that S = 1 gives llama.cpp's q4_0 bytes.
static void packQ4Groups(const float *x, float d, uint8_t *dst, int S) {
  const uint16_t dh = fp32ToFp16(d);
  std::memcpy(dst, &dh, 2);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int s = 0; s < S; ++s)
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[32 * s + j] * id;
      const float x1 = x[32 * s + j + 16] * id;
      const float s0 = x0 + 8.5f;
      const float s1 = x1 + 8.5f;
      const int q0 = std::min(15, static_cast<int>(s0));
      const int q1 = std::min(15, static_cast<int>(s1));
      dst[2 + 16 * s + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
}

/// Round to nearest with q4_0's scale over the whole block: the value of
/// largest magnitude (the first on ties) maps to -8.
static void quantQ4Groups(const float *x, uint8_t *dst, int64_t nb, int S) {
  const size_t blockBytes = 2 + 16 * size_t(S);
  for (int64_t i = 0; i < nb; ++i, x += 32 * S, dst += blockBytes) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32 * S; ++j) {
      const float a = std::fabs(x[j]);
      if (amax < a) {
        amax = a;
        max = x[j];
      }
    }
    packQ4Groups(x, max / -8.0f, dst, S);
  }
}

bool encodeQ4GroupsExact(StorageFormat f, const float *x, void *dst, int64_t n) {
  // q4_0 is the same block with one sub-block.
  const int S = f == StorageFormat::Q4_G128   ? 4
                : f == StorageFormat::Q4_G256 ? 8
                : f == StorageFormat::Q4_G64  ? 2
                : f == StorageFormat::Q4_0    ? 1
                                              : 0;
  if (S == 0 || n % (32 * S) != 0)
    return false;
  const int B = 32 * S;
  uint8_t *out = static_cast<uint8_t *>(dst);
  // Whether scale d represents the block's values exactly. (q4_0's
  // convention makes d negative when the extreme is positive.)
  auto representsAll = [](const float *v, int64_t m, float d) {
    if (d == 0.0f || !std::isfinite(d) || fp16ToFp32(fp32ToFp16(d)) != d)
      return false;
    for (int64_t j = 0; j < m; ++j) {
      const float c = v[j] / d;
      if (!(c == std::nearbyint(c) && c >= -8.0f && c <= 7.0f && c * d == v[j]))
        return false;
    }
    return true;
  };
  // The first code q in [-8, 7] whose scale ext / q represents all m values
  // exactly (ext: their value of largest magnitude, q * d for some q); 0 for
  // all-zero values or when none does (*ok false).
  auto scaleOf = [&](const float *v, int64_t m, bool *ok) {
    float ext = 0.0f;
    for (int64_t j = 0; j < m; ++j)
      if (std::fabs(v[j]) > std::fabs(ext))
        ext = v[j];
    *ok = ext == 0.0f;
    for (int q = -8; q <= 7 && !*ok; ++q)
      if (q != 0 && representsAll(v, m, ext / static_cast<float>(q))) {
        *ok = true;
        return ext / static_cast<float>(q);
      }
    return 0.0f;
  };
  // One scale for all n values when there is one (a per-channel row), so
  // every block carries it; else each block's own.
  bool rowOk;
  const float row = scaleOf(x, n, &rowOk);
  for (int64_t i = 0; i < n; i += B, x += B, out += 2 + 16 * S) {
    bool ok = rowOk;
    const float d = rowOk ? row : scaleOf(x, B, &ok);
    if (!ok)
      return false;
    packQ4Groups(x, d, out, S);
  }
  return true;
}

bool encodeQ4_1Exact(const float *x, void *dst, int64_t n, int64_t group) {
  const int64_t G = group ? group : n;
  if (n % 32 != 0 || G % 32 != 0 || n % G != 0)
    return false;
  // The value code q takes, computed as dequantQ4_1 computes it.
  auto value = [](int q, float d, float m) { return static_cast<float>(q) * d + m; };
  auto code = [](float v, float d, float m) {
    const float q = d > 0.0f ? std::nearbyint((v - m) / d) : 0.0f;
    return static_cast<int>(std::min(15.0f, std::max(0.0f, q)));
  };
  auto representsAll = [&](const float *v, float d, float m) {
    if (!(d >= 0.0f) || !std::isfinite(d) || !std::isfinite(m) ||
        fp16ToFp32(fp32ToFp16(d)) != d || fp16ToFp32(fp32ToFp16(m)) != m)
      return false;
    for (int64_t j = 0; j < G; ++j)
      if (value(code(v[j], d, m), d, m) != v[j])
        return false;
    return true;
  };
  auto *out = static_cast<BlockQ4_1 *>(dst);
  for (int64_t g0 = 0; g0 < n; g0 += G) {
    const float *v = x + g0;
    float lo = v[0], hi = v[0];
    for (int64_t j = 1; j < G; ++j)
      lo = std::min(lo, v[j]), hi = std::max(hi, v[j]);
    // The largest and smallest values are codes qlo < qlo + s of one grid:
    // d = (hi - lo) / s, m = lo - qlo * d. A rounding that uses the whole
    // range (round to nearest) is found at once (s = 15, qlo = 0).
    bool found = false;
    float d = 0.0f, m = lo;
    if (hi == lo) {
      found = representsAll(v, 0.0f, lo);
    }
    for (int s = 15; s >= 1 && !found; --s) {
      const float dc = fp16ToFp32(fp32ToFp16((hi - lo) / static_cast<float>(s)));
      for (int qlo = 0; qlo + s <= 15 && !found; ++qlo) {
        const float mc = lo - static_cast<float>(qlo) * dc;
        if (representsAll(v, dc, mc))
          found = true, d = dc, m = mc;
      }
    }
    if (!found)
      return false;
    for (int64_t b = 0; b < G / 32; ++b, ++out) {
      out->d = fp32ToFp16(d);
      out->m = fp32ToFp16(m);
      const float *vb = v + 32 * b;
      for (int j = 0; j < 16; ++j)
        out->qs[j] = static_cast<uint8_t>(code(vb[j], d, m) | (code(vb[j + 16], d, m) << 4));
    }
  }
  // Read back: the bytes must give exactly the values they were made from.
  std::vector<float> back(static_cast<size_t>(n));
  dequantQ4_1(static_cast<const BlockQ4_1 *>(dst), back.data(), n / 32);
  return std::memcmp(back.data(), x, static_cast<size_t>(n) * sizeof(float)) == 0;
}

//===----------------------------------------------------------------------===//
// 32-value formats: ggml's reference quantizers
//===----------------------------------------------------------------------===//

static void quantQ4_0(const float *x, BlockQ4_0 *b, int64_t nb) {
  quantQ4Groups(x, reinterpret_cast<uint8_t *>(b), nb, 1);
}

static void quantQ4_1(const float *x, BlockQ4_1 *b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min)
        min = x[j];
      if (x[j] > max)
        max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32ToFp16(d);
    b[i].m = fp32ToFp16(min);
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[j + 16] - min) * id;
      const float s0 = x0 + 0.5f;
      const float s1 = x1 + 0.5f;
      const int q0 = std::min(15, static_cast<int>(s0));
      const int q1 = std::min(15, static_cast<int>(s1));
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

static void quantQ5_0(const float *x, BlockQ5_0 *b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      const float a = std::fabs(x[j]);
      if (amax < a) {
        amax = a;
        max = x[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32ToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[j + 16] * id;
      const float s0 = x0 + 16.5f;
      const float s1 = x1 + 16.5f;
      const int q0 = std::min(31, static_cast<int>(s0));
      const int q1 = std::min(31, static_cast<int>(s1));
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    storeU32LE(b[i].qh, qh);
  }
}

static void quantQ5_1(const float *x, BlockQ5_1 *b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min)
        min = x[j];
      if (x[j] > max)
        max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32ToFp16(d);
    b[i].m = fp32ToFp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[j + 16] - min) * id;
      const float s0 = x0 + 0.5f;
      const float s1 = x1 + 0.5f;
      const int q0 = std::min(31, static_cast<int>(s0));
      const int q1 = std::min(31, static_cast<int>(s1));
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    storeU32LE(b[i].qh, qh);
  }
}

static void quantQ8_0(const float *x, BlockQ8_0 *b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32ToFp16(d);
    for (int j = 0; j < 32; ++j) {
      const float x0 = x[j] * id;
      b[i].qs[j] = static_cast<int8_t>(roundHalfAway(x0));
    }
  }
}

//===----------------------------------------------------------------------===//
// K formats: dequantization
//===----------------------------------------------------------------------===//

static void dequantQ4_K(const BlockQ4_K *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16ToFp32(b[i].d), dmin = fp16ToFp32(b[i].dmin);
    const uint8_t *q = b[i].qs;
    for (int j = 0; j < QK_K; j += 64, q += 32) {
      uint8_t sc, m;
      unpackScaleMinK4(j / 32, b[i].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      unpackScaleMinK4(j / 32 + 1, b[i].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l)
        y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l)
        y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
      y += 64;
    }
  }
}

static void dequantQ5_K(const BlockQ5_K *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16ToFp32(b[i].d), dmin = fp16ToFp32(b[i].dmin);
    const uint8_t *ql = b[i].qs;
    const uint8_t *qh = b[i].qh;
    int shift = 0; // sub-block pair p uses qh bits 2p (low nibbles) and 2p+1 (high)
    for (int j = 0; j < QK_K; j += 64, ql += 32, shift += 2) {
      uint8_t sc, m;
      unpackScaleMinK4(j / 32, b[i].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      unpackScaleMinK4(j / 32 + 1, b[i].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) {
        int q = (ql[l] & 0xF) | (((qh[l] >> shift) & 1) << 4);
        y[l] = d1 * static_cast<float>(q) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        int q = (ql[l] >> 4) | (((qh[l] >> (shift + 1)) & 1) << 4);
        y[l + 32] = d2 * static_cast<float>(q) - m2;
      }
      y += 64;
    }
  }
}

static void dequantQ6_K(const BlockQ6_K *b, float *y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16ToFp32(b[i].d);
    const uint8_t *ql = b[i].ql;
    const uint8_t *qh = b[i].qh;
    const int8_t *sc = b[i].scales;
    for (int n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// K formats: quantization
//===----------------------------------------------------------------------===//

namespace {
inline float hsum8(const float *a) {
  return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}
/// Round to nearest (ties to even) in float, for |v| < 2^22: no integer
/// conversion, so loops using it vectorise.
inline float roundFloat(float v) {
  const float magic = 12582912.0f; // 1.5 * 2^23
  return (v + magic) - magic;
}
} // namespace

/// Fits the N values `x` (N a multiple of 8) as scale * L - mn with integer
/// L in [0, nmax] and mn >= 0, minimising sum w * (scale * L - mn - x)^2. Tries the
/// plain min/max grid and `nstep` stretched grids, refitting scale and min by least
/// squares for each assignment. Returns the scale; `mnOut` gets mn. (The levels are
/// not returned: the caller recomputes them once the scales are quantized.)
template <int N>
static float fitScaleMin(int nmax, const float *x, const float *w, float &mnOut,
                         float rmin, float rdelta, int nstep) {
  float lo = x[0], hi = x[0];
  float aw[8] = {}, ax[8] = {}, ax2[8] = {};
  for (int i = 0; i < N; i += 8)
    for (int k = 0; k < 8; ++k) {
      const float v = x[i + k], wv = w[i + k] * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      aw[k] += w[i + k];
      ax[k] += wv;
      ax2[k] += wv * v;
    }
  const double sumW = hsum8(aw), sumX = hsum8(ax), sumX2 = hsum8(ax2);
  if (lo > 0)
    lo = 0;
  if (hi <= lo) {
    mnOut = -lo;
    return 0.0f;
  }
  const float fmax = static_cast<float>(nmax);
  float xs[N]; // shifted so that the grid starts at 0
  for (int i = 0; i < N; ++i)
    xs[i] = x[i] - lo;

  // The weighted error of value = scale * L + mn (mn <= 0), from the sums.
  auto errorOf = [&](double sc, double m, double sumL, double sumL2, double sumXL) {
    return sc * sc * sumL2 + 2 * sc * m * sumL + m * m * sumW - 2 * sc * sumXL - 2 * m * sumX +
           sumX2;
  };

  double bestErr = INFINITY;
  float scale = 0, mn = lo;
  const float invRange = 1.0f / (hi - lo);
  for (int step = -1; step <= nstep; ++step) {
    // step -1 is the plain grid from lo to hi with its own scale and offset.
    const float is = step < 0 ? fmax * invRange
                              : (rmin + rdelta * static_cast<float>(step) + fmax) * invRange;
    float sl[8] = {}, sl2[8] = {}, sxl[8] = {};
    for (int i = 0; i < N; i += 8)
      for (int k = 0; k < 8; ++k) {
        const float q = std::min(fmax, std::max(0.0f, roundFloat(is * xs[i + k])));
        const float wq = w[i + k] * q;
        sl[k] += wq;
        sl2[k] += wq * q;
        sxl[k] += wq * x[i + k];
      }
    const double sumL = hsum8(sl), sumL2 = hsum8(sl2), sumXL = hsum8(sxl);
    double thisScale, thisMin;
    if (step < 0) {
      thisScale = 1.0 / is;
      thisMin = lo;
    } else {
      const double det = sumW * sumL2 - sumL * sumL;
      if (det <= 0)
        continue;
      const double invDet = 1.0 / det;
      thisScale = (sumW * sumXL - sumX * sumL) * invDet;
      thisMin = (sumL2 * sumX - sumL * sumXL) * invDet;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
    }
    const double err = errorOf(thisScale, thisMin, sumL, sumL2, sumXL);
    if (err < bestErr) {
      bestErr = err;
      scale = static_cast<float>(thisScale);
      mn = static_cast<float>(thisMin);
    }
  }
  mnOut = -mn;
  return scale;
}

/// Fits the 16 values `x` as scale * L with integer L in [-nmax, nmax - 1],
/// weighting each value by its square (large values matter most). Returns the
/// (signed) scale.
static float fitSignedScale(const float *x, int nmax) {
  float amax = 0, max = 0;
  for (int i = 0; i < 16; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (amax < 1e-30f)
    return 0.0f;
  // Candidate grids put the extreme value at -(nmax - 0.9) .. -(nmax + 0.9) in steps
  // of 0.3: on the llama-dense fixture as accurate as steps of 0.1 at a third of
  // the cost.
  float bestScale = 0, bestObj = -1;
  for (int step = -3; step <= 3; ++step) {
    const float iscale = -(static_cast<float>(nmax) + 0.3f * static_cast<float>(step)) / max;
    const float qlo = static_cast<float>(-nmax), qhi = static_cast<float>(nmax - 1);
    float sxl[8] = {}, sl2[8] = {};
    for (int i = 0; i < 16; i += 8)
      for (int k = 0; k < 8; ++k) {
        const float v = x[i + k];
        const float q = std::min(qhi, std::max(qlo, roundFloat(iscale * v)));
        const float wq = v * v * q;
        sxl[k] += wq * v;
        sl2[k] += wq * q;
      }
    const float sumXL = hsum8(sxl), sumL2 = hsum8(sl2);
    // With the least-squares scale sumXL / sumL2 the error falls as sumXL^2 / sumL2 grows.
    if (sumL2 > 0 && sumXL * sumXL > bestObj * sumL2) {
      bestObj = sumXL * sumXL / sumL2;
      bestScale = sumXL / sumL2;
    }
  }
  return bestScale;
}

/// Packs the eight 6-bit scales and mins of a q4_k / q5_k block.
static void packScaleMinK4(const uint8_t *ls, const uint8_t *lm, uint8_t *q) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

/// Shared by q4_k (nmax 15) and q5_k (nmax 31): chooses per-sub-block scales and
/// mins, quantizes them to 6 bits under the super-block's d and dmin, and returns
/// the final integer levels in L[256].
static void quantizeSuperBlockK(const float *x, int nmax, float rmin, float rdelta,
                                int nstep, uint16_t &dOut, uint16_t &dminOut,
                                uint8_t *scalesOut, uint8_t *L) {
  float scales[8], mins[8], weights[32];
  float maxScale = 0, maxMin = 0;
  for (int j = 0; j < 8; ++j) {
    const float *xs = x + 32 * j;
    float sumX2 = 0;
    for (int l = 0; l < 32; ++l)
      sumX2 += xs[l] * xs[l];
    const float av = std::sqrt(sumX2 / 32.0f);
    for (int l = 0; l < 32; ++l)
      weights[l] = av + std::fabs(xs[l]);
    scales[j] = fitScaleMin<32>(nmax, xs, weights, mins[j], rmin, rdelta, nstep);
    maxScale = std::max(maxScale, scales[j]);
    maxMin = std::max(maxMin, mins[j]);
  }
  const float invScale = maxScale > 0 ? 63.0f / maxScale : 0.0f;
  const float invMin = maxMin > 0 ? 63.0f / maxMin : 0.0f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(std::clamp(nearestInt(invScale * scales[j]), 0, 63));
    lm[j] = static_cast<uint8_t>(std::clamp(nearestInt(invMin * mins[j]), 0, 63));
  }
  std::memset(scalesOut, 0, K_SCALE_SIZE);
  packScaleMinK4(ls, lm, scalesOut);
  dOut = fp32ToFp16(maxScale / 63.0f);
  dminOut = fp32ToFp16(maxMin / 63.0f);

  // Requantize every value under the scales as the decoder will see them.
  const float d = fp16ToFp32(dOut), dmin = fp16ToFp32(dminOut);
  for (int j = 0; j < 8; ++j) {
    const float ds = d * static_cast<float>(ls[j]);
    uint8_t *Lj = L + 32 * j;
    if (ds == 0.0f) {
      std::memset(Lj, 0, 32);
      continue;
    }
    const float dm = dmin * static_cast<float>(lm[j]);
    const float ids = 1.0f / ds;
    for (int l = 0; l < 32; ++l)
      Lj[l] = static_cast<uint8_t>(std::clamp(nearestInt((x[32 * j + l] + dm) * ids), 0, nmax));
  }
}

static void quantQ4_K(const float *x, BlockQ4_K *b, int64_t nb) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; ++i, x += QK_K) {
    // Grids stretched from nmax - 1 to nmax + 1 in steps of 0.2: on the llama-dense
    // fixture as accurate as steps of 0.1 (within 0.1%) at half the cost.
    quantizeSuperBlockK(x, 15, -1.0f, 0.2f, 10, b[i].d, b[i].dmin, b[i].scales, L);
    uint8_t *q = b[i].qs;
    for (int j = 0; j < QK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l)
        q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

static void quantQ5_K(const float *x, BlockQ5_K *b, int64_t nb) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; ++i, x += QK_K) {
    // Same grids as q4_k: on normal data slightly better than llama.cpp's
    // nmax - 0.5 .. nmax + 1 in steps of 0.1, with 11 candidates instead of 16.
    quantizeSuperBlockK(x, 31, -1.0f, 0.2f, 10, b[i].d, b[i].dmin, b[i].scales, L);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    uint8_t *ql = b[i].qs;
    int shift = 0;
    for (int j = 0; j < QK_K; j += 64, ql += 32, shift += 2)
      for (int l = 0; l < 32; ++l) {
        const int l1 = L[j + l], l2 = L[j + l + 32];
        ql[l] = static_cast<uint8_t>((l1 & 0xF) | ((l2 & 0xF) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((l1 >> 4) << shift) | ((l2 >> 4) << (shift + 1)));
      }
  }
}

static void quantQ6_K(const float *x, BlockQ6_K *b, int64_t nb) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; ++i, x += QK_K) {
    float scales[16];
    float maxScale = 0, maxAbsScale = 0;
    for (int s = 0; s < 16; ++s) {
      scales[s] = fitSignedScale(x + 16 * s, 32);
      if (std::fabs(scales[s]) > maxAbsScale) {
        maxAbsScale = std::fabs(scales[s]);
        maxScale = scales[s];
      }
    }
    if (maxAbsScale == 0.0f) {
      std::memset(&b[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    // The scale of largest magnitude maps to -128, so int8 scales use their full range.
    const float iscale = -128.0f / maxScale;
    b[i].d = fp32ToFp16(1.0f / iscale);
    for (int s = 0; s < 16; ++s)
      b[i].scales[s] = static_cast<int8_t>(std::clamp(nearestInt(iscale * scales[s]), -128, 127));
    const float d = fp16ToFp32(b[i].d);
    for (int s = 0; s < 16; ++s) {
      const float ds = d * static_cast<float>(b[i].scales[s]);
      uint8_t *Ls = L + 16 * s;
      if (ds == 0.0f) {
        std::memset(Ls, 32, 16);
        continue;
      }
      const float ids = 1.0f / ds;
      for (int l = 0; l < 16; ++l)
        Ls[l] = static_cast<uint8_t>(std::clamp(nearestInt(x[16 * s + l] * ids), -32, 31) + 32);
    }
    uint8_t *ql = b[i].ql, *qh = b[i].qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
  }
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

void dequantizeRow(StorageFormat f, const void *src, float *dst, int64_t n) {
  const StorageFormatInfo &fi = info(f);
  assert(n >= 0 && n % fi.blockElems == 0 && "row length must be a multiple of the block");
  const int64_t nb = n / fi.blockElems;
  switch (f) {
  case StorageFormat::F32:
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  case StorageFormat::F16:
    return convertFp16ToFp32(static_cast<const uint16_t *>(src), dst, n);
  case StorageFormat::BF16:
    return convertBf16ToFp32(static_cast<const uint16_t *>(src), dst, n);
  case StorageFormat::Q4_0:
    return dequantQ4_0(static_cast<const BlockQ4_0 *>(src), dst, nb);
  case StorageFormat::Q4_1:
    return dequantQ4_1(static_cast<const BlockQ4_1 *>(src), dst, nb);
  case StorageFormat::Q5_0:
    return dequantQ5_0(static_cast<const BlockQ5_0 *>(src), dst, nb);
  case StorageFormat::Q5_1:
    return dequantQ5_1(static_cast<const BlockQ5_1 *>(src), dst, nb);
  case StorageFormat::Q8_0:
    return dequantQ8_0(static_cast<const BlockQ8_0 *>(src), dst, nb);
  case StorageFormat::Q4_K:
    return dequantQ4_K(static_cast<const BlockQ4_K *>(src), dst, nb);
  case StorageFormat::Q5_K:
    return dequantQ5_K(static_cast<const BlockQ5_K *>(src), dst, nb);
  case StorageFormat::Q6_K:
    return dequantQ6_K(static_cast<const BlockQ6_K *>(src), dst, nb);
  case StorageFormat::Q4_G128:
    return dequantQ4Groups(static_cast<const uint8_t *>(src), dst, nb, 4);
  case StorageFormat::Q4_G256:
    return dequantQ4Groups(static_cast<const uint8_t *>(src), dst, nb, 8);
  case StorageFormat::Q4_G64:
    return dequantQ4Groups(static_cast<const uint8_t *>(src), dst, nb, 2);
  }
  assert(false && "unhandled storage format");
}

void quantizeRow(StorageFormat f, const float *src, void *dst, int64_t n) {
  const StorageFormatInfo &fi = info(f);
  assert(n >= 0 && n % fi.blockElems == 0 && "row length must be a multiple of the block");
  const int64_t nb = n / fi.blockElems;
  switch (f) {
  case StorageFormat::F32:
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  case StorageFormat::F16:
    return convertFp32ToFp16(src, static_cast<uint16_t *>(dst), n);
  case StorageFormat::BF16:
    return convertFp32ToBf16(src, static_cast<uint16_t *>(dst), n);
  case StorageFormat::Q4_0:
    return quantQ4_0(src, static_cast<BlockQ4_0 *>(dst), nb);
  case StorageFormat::Q4_1:
    return quantQ4_1(src, static_cast<BlockQ4_1 *>(dst), nb);
  case StorageFormat::Q5_0:
    return quantQ5_0(src, static_cast<BlockQ5_0 *>(dst), nb);
  case StorageFormat::Q5_1:
    return quantQ5_1(src, static_cast<BlockQ5_1 *>(dst), nb);
  case StorageFormat::Q8_0:
    return quantQ8_0(src, static_cast<BlockQ8_0 *>(dst), nb);
  case StorageFormat::Q4_K:
    return quantQ4_K(src, static_cast<BlockQ4_K *>(dst), nb);
  case StorageFormat::Q5_K:
    return quantQ5_K(src, static_cast<BlockQ5_K *>(dst), nb);
  case StorageFormat::Q6_K:
    return quantQ6_K(src, static_cast<BlockQ6_K *>(dst), nb);
  case StorageFormat::Q4_G128:
    return quantQ4Groups(src, static_cast<uint8_t *>(dst), nb, 4);
  case StorageFormat::Q4_G256:
    return quantQ4Groups(src, static_cast<uint8_t *>(dst), nb, 8);
  case StorageFormat::Q4_G64:
    return quantQ4Groups(src, static_cast<uint8_t *>(dst), nb, 2);
  }
  assert(false && "unhandled storage format");
}

} // namespace milm
