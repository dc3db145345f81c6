//===- UKernelChecks.h - Checks of one microkernel implementation ----------===//
//
// Each check runs one implementation of codegen/ukernels/include/milm_ukernels.h
// (through a table of its function pointers, so implementations built with
// different symbol prefixes can be tested side by side) against a float64
// reference built from milm::dequantizeRow, and returns "" on success or a
// message saying what differs. UKernelTest.cpp (GoogleTest, host) and
// AArch64Driver.cpp (plain main, run under qemu-aarch64) share these checks.
//
// Error bounds of the quantized products (activations quantized to 8 bits):
//  (A) Against the exact product with the *quantized* activations xq (read back
//      from the kernel's own activation blocks, whose bytes are checked against
//      the spec: d = max|x|/127, q = round-to-nearest-even(x * (1/d))):
//          |y - sum_i W[o,i] xq[i]| <= 1e-5 * sum_i |W[o,i] xq[i]|
//      The only error left is f32 rounding of block scales and partial sums, so
//      any wrong nibble, bit, scale or min is caught (those errors are O(1)
//      relative; this bound is ~1e-5 of the absolute sum).
//  (B) Against the exact float64 product with the unquantized activations:
//          |y - sum_i W[o,i] x[i]| <= sum_i |W[o,i]| d_i / 2 + 1e-5 sum_i |W x|
//      where d_i is the activation scale of i's block (rounding error <= d/2);
//      and, treating rounding errors as independent and uniform in [-d/2, d/2],
//      the measured rms error over all outputs must be at most 2x (3x for
//      fewer than 30 outputs) the predicted rms sqrt(sum_i W[o,i]^2 d_i^2 / 12).
//      (The test activations have outliers, so rms(error) / rms(reference) is
//      1-2.5% here, about 0.5% without outliers.)
// Float formats and the dequantize-then-FMA path: |y - ref| <= 1e-5 * sum|W x|.
//
//===----------------------------------------------------------------------===//
#ifndef MILM_TEST_UNIT_UKERNELS_UKERNELCHECKS_H
#define MILM_TEST_UNIT_UKERNELS_UKERNELCHECKS_H

#include "codegen/ukernels/include/milm_ukernels.h"
#include "common/milm/Quantize.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace milm::ukcheck {

using MatmulQ8Fn = void (*)(const void *, const void *, float *, int64_t, int64_t, int64_t,
                            int64_t, int64_t);
using MatmulFn = void (*)(const void *, const float *, int64_t, float *, int64_t, int64_t,
                          int64_t, int64_t, int64_t, void *);

/// One implementation's entry points.
struct UKImpl {
  const char *name = "";
  int64_t (*block_elems)(uint32_t);
  size_t (*weight_row_bytes)(uint32_t, int64_t);
  size_t (*act_row_bytes)(uint32_t, int64_t);
  size_t (*matmul_scratch_bytes)(uint32_t, int64_t, int64_t);
  void (*quantize_act)(uint32_t, const float *, int64_t, int64_t, int64_t, void *);
  void (*matmul)(uint32_t, const void *, const float *, int64_t, float *, int64_t, int64_t,
                 int64_t, int64_t, int64_t, void *);
  MatmulFn mm[256] = {};     ///< matmul_<fmt> by format number
  MatmulQ8Fn mmq8[256] = {}; ///< matmul_<fmt>_q8 by format number
  void (*matmul_dequant)(uint32_t, const void *, const float *, int64_t, float *, int64_t,
                         int64_t, int64_t, int64_t, int64_t);
  void (*dequantize_row)(uint32_t, const void *, float *, int64_t);
  void (*embedding)(uint32_t, const void *, int64_t, const int32_t *, int64_t, float *, int64_t);
  void (*rms_norm)(const float *, int64_t, const float *, float *, int64_t, int64_t, int64_t,
                   float);
  void (*swiglu)(const float *, const float *, float *, int64_t);
  void (*add)(const float *, const float *, float *, int64_t);
  void (*softmax)(float *, int64_t);
  void (*rope)(float *, int64_t, int64_t, int64_t, int64_t, const int32_t *,
               const milm_uk_rope_params *);
  void (*kv_append_f16)(const float *, int64_t, const float *, int64_t, uint16_t *, uint16_t *,
                        const int32_t *, int64_t, int64_t, int64_t, int64_t, int64_t);
  void (*attention_f16kv)(const float *, int64_t, const float *, int64_t, const float *,
                          int64_t, uint16_t *, uint16_t *, float *, int64_t, const int32_t *,
                          int64_t, int64_t, int64_t, int64_t, float, int64_t, int64_t);
  void (*outlier_columns_f16)(const uint16_t *, const int32_t *, int64_t, const float *,
                              int64_t, float *, int64_t, int64_t, int64_t, int64_t);
  void (*moe_route)(const float *, int64_t, int64_t, int64_t, int64_t, int32_t, int32_t *,
                    float *);
  /// The packed layouts (kPackedLayouts below): repack and product.
  struct Packed {
    void (*repack)(const void *, void *, int64_t, int64_t) = nullptr;
    MatmulQ8Fn mmq8 = nullptr;
  } packed[9];
};

/// milm's packed layouts, in UKImpl::packed's order: code, base format, name.
struct PackedLayout {
  uint32_t code, base;
  const char *name;
};
inline constexpr PackedLayout kPackedLayouts[] = {{MILM_UK_Q4_0_X8, MILM_UK_Q4_0, "q4_0x8"},
                                                  {MILM_UK_Q8_0_X8, MILM_UK_Q8_0, "q8_0x8"},
                                                  {MILM_UK_Q4_K_X8, MILM_UK_Q4_K, "q4_kx8"},
                                                  {MILM_UK_Q6_K_X8, MILM_UK_Q6_K, "q6_kx8"},
                                                  {MILM_UK_Q4_G128_X8, MILM_UK_Q4_G128, "q4_g128x8"},
                                                  {MILM_UK_Q4_G256_X8, MILM_UK_Q4_G256, "q4_g256x8"},
                                                  {MILM_UK_Q4_G64_X8, MILM_UK_Q4_G64, "q4_g64x8"},
                                                  {MILM_UK_Q4_0_X32, MILM_UK_Q4_0, "q4_0x32"},
                                                  {MILM_UK_Q8_0_X32, MILM_UK_Q8_0, "q8_0x32"}};

/// Fills a UKImpl from the functions declared with prefix P (a token such as
/// milm_uk_generic_); the prototypes must have been declared with that prefix.
#define MILM_UKCHECK_IMPL(P, NAME)                                                     \
  [] {                                                                                 \
    ::milm::ukcheck::UKImpl u;                                                         \
    u.name = NAME;                                                                     \
    u.block_elems = P##block_elems;                                                    \
    u.weight_row_bytes = P##weight_row_bytes;                                          \
    u.act_row_bytes = P##act_row_bytes;                                                \
    u.matmul_scratch_bytes = P##matmul_scratch_bytes;                                  \
    u.quantize_act = P##quantize_act;                                                  \
    u.matmul = P##matmul;                                                              \
    u.mm[MILM_UK_F32] = P##matmul_f32;                                                 \
    u.mm[MILM_UK_F16] = P##matmul_f16;                                                 \
    u.mm[MILM_UK_BF16] = P##matmul_bf16;                                               \
    u.mm[MILM_UK_Q4_0] = P##matmul_q4_0;                                               \
    u.mm[MILM_UK_Q4_1] = P##matmul_q4_1;                                               \
    u.mm[MILM_UK_Q5_0] = P##matmul_q5_0;                                               \
    u.mm[MILM_UK_Q5_1] = P##matmul_q5_1;                                               \
    u.mm[MILM_UK_Q8_0] = P##matmul_q8_0;                                               \
    u.mm[MILM_UK_Q4_K] = P##matmul_q4_k;                                               \
    u.mm[MILM_UK_Q5_K] = P##matmul_q5_k;                                               \
    u.mm[MILM_UK_Q6_K] = P##matmul_q6_k;                                               \
    u.mm[MILM_UK_Q4_G128] = P##matmul_q4_g128;                                         \
    u.mm[MILM_UK_Q4_G256] = P##matmul_q4_g256;                                         \
    u.mm[MILM_UK_Q4_G64] = P##matmul_q4_g64;                                           \
    u.mmq8[MILM_UK_Q4_0] = P##matmul_q4_0_q8;                                          \
    u.mmq8[MILM_UK_Q4_1] = P##matmul_q4_1_q8;                                          \
    u.mmq8[MILM_UK_Q5_0] = P##matmul_q5_0_q8;                                          \
    u.mmq8[MILM_UK_Q5_1] = P##matmul_q5_1_q8;                                          \
    u.mmq8[MILM_UK_Q8_0] = P##matmul_q8_0_q8;                                          \
    u.mmq8[MILM_UK_Q4_K] = P##matmul_q4_k_q8;                                          \
    u.mmq8[MILM_UK_Q5_K] = P##matmul_q5_k_q8;                                          \
    u.mmq8[MILM_UK_Q6_K] = P##matmul_q6_k_q8;                                          \
    u.mmq8[MILM_UK_Q4_G128] = P##matmul_q4_g128_q8;                                    \
    u.mmq8[MILM_UK_Q4_G256] = P##matmul_q4_g256_q8;                                    \
    u.mmq8[MILM_UK_Q4_G64] = P##matmul_q4_g64_q8;                                      \
    u.matmul_dequant = P##matmul_dequant;                                              \
    u.dequantize_row = P##dequantize_row;                                              \
    u.embedding = P##embedding;                                                        \
    u.rms_norm = P##rms_norm;                                                          \
    u.swiglu = P##swiglu;                                                              \
    u.add = P##add;                                                                    \
    u.softmax = P##softmax;                                                            \
    u.rope = P##rope;                                                                  \
    u.kv_append_f16 = P##kv_append_f16;                                                \
    u.attention_f16kv = P##attention_f16kv;                                            \
    u.moe_route = P##moe_route;                                                        \
    u.outlier_columns_f16 = P##outlier_columns_f16;                                    \
    u.packed[0] = {P##repack_q4_0x8, P##matmul_q4_0x8_q8};                             \
    u.packed[1] = {P##repack_q8_0x8, P##matmul_q8_0x8_q8};                             \
    u.packed[2] = {P##repack_q4_kx8, P##matmul_q4_kx8_q8};                             \
    u.packed[3] = {P##repack_q6_kx8, P##matmul_q6_kx8_q8};                             \
    u.packed[4] = {P##repack_q4_g128x8, P##matmul_q4_g128x8_q8};                       \
    u.packed[5] = {P##repack_q4_g256x8, P##matmul_q4_g256x8_q8};                       \
    u.packed[6] = {P##repack_q4_g64x8, P##matmul_q4_g64x8_q8};                         \
    u.packed[7] = {P##repack_q4_0x32, P##matmul_q4_0x32_q8};                           \
    u.packed[8] = {P##repack_q8_0x32, P##matmul_q8_0x32_q8};                           \
    return u;                                                                          \
  }()

/// Every format, in the order the tests list them.
inline const std::vector<uint32_t> &allFormats() {
  static const std::vector<uint32_t> f = {
      MILM_UK_F32,  MILM_UK_F16,  MILM_UK_BF16, MILM_UK_Q4_0, MILM_UK_Q4_1, MILM_UK_Q5_0,
      MILM_UK_Q5_1, MILM_UK_Q8_0, MILM_UK_Q4_K, MILM_UK_Q5_K, MILM_UK_Q6_K, MILM_UK_Q4_G128,
      MILM_UK_Q4_G256, MILM_UK_Q4_G64};
  return f;
}

inline const char *formatName(uint32_t f) {
  switch (f) {
  case MILM_UK_F32: return "f32";
  case MILM_UK_F16: return "f16";
  case MILM_UK_BF16: return "bf16";
  case MILM_UK_Q4_0: return "q4_0";
  case MILM_UK_Q4_1: return "q4_1";
  case MILM_UK_Q5_0: return "q5_0";
  case MILM_UK_Q5_1: return "q5_1";
  case MILM_UK_Q8_0: return "q8_0";
  case MILM_UK_Q4_K: return "q4_k";
  case MILM_UK_Q5_K: return "q5_k";
  case MILM_UK_Q6_K: return "q6_k";
  case MILM_UK_Q4_G128: return "q4_g128";
  case MILM_UK_Q4_G256: return "q4_g256";
  case MILM_UK_Q4_G64: return "q4_g64";
  default: return "?";
  }
}

inline bool isFloatFormat(uint32_t f) {
  return f == MILM_UK_F32 || f == MILM_UK_F16 || f == MILM_UK_BF16;
}
inline bool isKFormat(uint32_t f) {
  return f == MILM_UK_Q4_K || f == MILM_UK_Q5_K || f == MILM_UK_Q6_K;
}
/// A K of a few weight blocks that is not a multiple of 256 where the block
/// allows (an odd number of blocks): 96 for the 32-value formats.
inline int64_t smallK(uint32_t f) {
  if (isKFormat(f) || f == MILM_UK_Q4_G256)
    return f == MILM_UK_Q4_G256 ? 768 : 256;
  return f == MILM_UK_Q4_G128 ? 384 : f == MILM_UK_Q4_G64 ? 192 : 96;
}

template <typename... A> std::string fmt(const char *f, A... a) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

//===----------------------------------------------------------------------===//
// Test data
//===----------------------------------------------------------------------===//

/// N rows of K weights in format f: the encoded bytes and the exact dequantized
/// values. Rows get different scales and offsets (so mins and scales matter),
/// and a few outliers.
struct Weights {
  uint32_t format;
  int64_t N, K;
  size_t rowBytes;
  std::vector<uint8_t> bytes;
  std::vector<double> w; ///< [N][K], exactly what the bytes encode
};

inline Weights makeWeightsUncached(uint32_t f, int64_t N, int64_t K, uint32_t seed) {
  Weights W{f, N, K, 0, {}, {}};
  auto sf = static_cast<StorageFormat>(f);
  W.rowBytes = *rowBytes(sf, static_cast<uint64_t>(K));
  W.bytes.assign(W.rowBytes * N + 64, 0xA5); // 64 guard bytes nobody may need
  W.w.resize(N * K);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  std::vector<float> row(K), deq(K);
  for (int64_t o = 0; o < N; ++o) {
    const float scale = std::exp2(ud(rng) * 2.0f) * 0.05f;
    const float bias = 0.4f * ud(rng) * scale;
    for (int64_t i = 0; i < K; ++i) {
      float v = nd(rng) * scale + bias;
      if (i % 97 == 13)
        v *= 4.0f; // an outlier now and then
      row[i] = v;
    }
    quantizeRow(sf, row.data(), W.bytes.data() + o * W.rowBytes, K);
    dequantizeRow(sf, W.bytes.data() + o * W.rowBytes, deq.data(), K);
    for (int64_t i = 0; i < K; ++i)
      W.w[o * K + i] = deq[i];
  }
  return W;
}

/// makeWeights, memoised: the K-format quantizers' scale search is slow under
/// qemu, and every check of a case needs the same weights.
inline const Weights &makeWeights(uint32_t f, int64_t N, int64_t K, uint32_t seed) {
  static std::map<std::tuple<uint32_t, int64_t, int64_t, uint32_t>, Weights> cache;
  auto key = std::make_tuple(f, N, K, seed);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, makeWeightsUncached(f, N, K, seed)).first;
  return it->second;
}

/// T rows of K activations with row stride ldx >= K (padding filled with NaN so
/// a kernel reading it is caught).
inline std::vector<float> makeActivations(int64_t T, int64_t K, int64_t ldx, uint32_t seed) {
  std::vector<float> x(T * ldx, NAN);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < K; ++i) {
      float v = nd(rng) * (1.0f + 0.25f * static_cast<float>(t % 3));
      if (i % 131 == 7)
        v *= 6.0f;
      x[t * ldx + i] = v;
    }
  return x;
}

//===----------------------------------------------------------------------===//
// Activation blocks: check the bytes against the spec and read them back
//===----------------------------------------------------------------------===//

/// Checks impl.quantize_act's blocks for x against the spec and returns the
/// values they encode ([T][K], double) and each value's block scale d.
inline std::string checkQuantizedActivations(const UKImpl &impl, uint32_t f, const float *x,
                                             int64_t ldx, int64_t T, int64_t K,
                                             std::vector<uint8_t> &xq, std::vector<double> &xqd,
                                             std::vector<double> &dOf) {
  const size_t arb = impl.act_row_bytes(f, K);
  const bool kq = isKFormat(f);
  const int64_t QK = kq ? 256 : 32;
  const size_t blockBytes = kq ? sizeof(milm_uk_block_q8_k) : sizeof(milm_uk_block_q8_32);
  if (arb != static_cast<size_t>(K / QK) * blockBytes)
    return fmt("act_row_bytes(%s, %lld) = %zu", formatName(f), (long long)K, arb);
  if (impl.matmul_scratch_bytes(f, T, K) != arb * T)
    return "matmul_scratch_bytes != T * act_row_bytes";
  xq.assign(arb * T + 64, 0x5A);
  impl.quantize_act(f, x, ldx, T, K, xq.data());
  for (size_t i = arb * T; i < xq.size(); ++i)
    if (xq[i] != 0x5A)
      return fmt("quantize_act wrote past T * act_row_bytes (byte %zu)", i);
  xqd.assign(T * K, 0.0);
  dOf.assign(T * K, 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < K / QK; ++b) {
      const uint8_t *blk = xq.data() + t * arb + b * blockBytes;
      float d;
      std::memcpy(&d, blk, 4);
      const int8_t *qs = reinterpret_cast<const int8_t *>(blk + (kq ? 4 : 8));
      const float *xb = x + t * ldx + b * QK;
      float amax = 0.0f;
      for (int64_t j = 0; j < QK; ++j)
        amax = std::max(amax, std::fabs(xb[j]));
      const float dWant = amax / 127.0f;
      if (d != dWant)
        return fmt("token %lld block %lld: activation scale %.9g, want max|x|/127 = %.9g",
                   (long long)t, (long long)b, d, dWant);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      int32_t sum = 0;
      for (int64_t j = 0; j < QK; ++j) {
        const float prod = xb[j] * id;
        const int want =
            static_cast<int>(std::max(-127.0f, std::min(127.0f, std::nearbyint(prod))));
        if (qs[j] != want)
          return fmt("token %lld block %lld value %lld: q = %d, want %d (x = %.9g)", (long long)t,
                     (long long)b, (long long)j, qs[j], want, xb[j]);
        sum += qs[j];
        xqd[t * K + b * QK + j] = static_cast<double>(d) * qs[j];
        dOf[t * K + b * QK + j] = d;
      }
      if (kq) {
        int16_t bs[16];
        std::memcpy(bs, blk + 4 + 256, sizeof bs);
        for (int s = 0; s < 16; ++s) {
          int want = 0;
          for (int j = 0; j < 16; ++j)
            want += qs[16 * s + j];
          if (bs[s] != want)
            return fmt("token %lld block %lld: bsums[%d] = %d, want %d", (long long)t,
                       (long long)b, s, bs[s], want);
        }
      } else {
        int32_t s;
        std::memcpy(&s, blk + 4, 4);
        if (s != sum)
          return fmt("token %lld block %lld: sum = %d, want %d", (long long)t, (long long)b, s,
                     sum);
      }
    }
  return "";
}

//===----------------------------------------------------------------------===//
// Products
//===----------------------------------------------------------------------===//

struct MatmulCase {
  uint32_t format;
  int64_t T, K, N, oBegin, oEnd;
  uint32_t seed = 1;
};

inline std::string caseName(const MatmulCase &c) {
  return fmt("%s T=%lld K=%lld rows [%lld,%lld) of %lld", formatName(c.format), (long long)c.T,
             (long long)c.K, (long long)c.oBegin, (long long)c.oEnd, (long long)c.N);
}

constexpr float kSentinel = -12345.5f;

/// Checks that y holds kSentinel everywhere outside rows [oBegin, oEnd).
inline std::string checkUntouched(const std::vector<float> &y, int64_t T, int64_t ldy,
                                  int64_t oBegin, int64_t oEnd) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < ldy; ++o)
      if ((o < oBegin || o >= oEnd) && y[t * ldy + o] != kSentinel)
        return fmt("wrote y[%lld][%lld] outside the row range", (long long)t, (long long)o);
  for (size_t i = T * ldy; i < y.size(); ++i)
    if (y[i] != kSentinel)
      return "wrote past the last row of y";
  return "";
}

/// The main product entry (matmul_<fmt>) and the pre-quantized one against the
/// float64 references, with the bounds in the file comment. `out` (optional)
/// receives y for cross-implementation comparisons.
inline std::string checkMatmul(const UKImpl &impl, const MatmulCase &c,
                               std::vector<float> *out = nullptr, double *rmsRelOut = nullptr) {
  const std::string where = std::string(impl.name) + " " + caseName(c) + ": ";
  const Weights &W = makeWeights(c.format, c.N, c.K, c.seed);
  if (impl.weight_row_bytes(c.format, c.K) != W.rowBytes)
    return where + "weight_row_bytes disagrees with the GGUF row size";
  const int64_t ldx = c.K + 3, ldy = c.N + 5;
  const std::vector<float> x = makeActivations(c.T, c.K, ldx, c.seed * 7 + 1);
  std::vector<float> y(c.T * ldy + 16, kSentinel);
  const size_t sb = impl.matmul_scratch_bytes(c.format, c.T, c.K);
  std::vector<uint8_t> scratch(sb + 64, 0x77);
  impl.mm[c.format](W.bytes.data(), x.data(), ldx, y.data(), ldy, c.T, c.K, c.oBegin, c.oEnd,
                    sb ? scratch.data() : nullptr);
  for (size_t i = sb; i < scratch.size(); ++i)
    if (scratch[i] != 0x77)
      return where + "wrote past matmul_scratch_bytes of scratch";
  std::string e = checkUntouched(y, c.T, ldy, c.oBegin, c.oEnd);
  if (!e.empty())
    return where + e;

  // Prefill equals decode: each token computed alone (T = 1, another code path
  // in the tiled kernels) gives the same outputs up to f32 summation order.
  // Sums are exact integers per block, so only the float accumulation of the
  // block terms may differ: 1e-6 of sum_i |w x| leaves no room for a lost term,
  // a wrong tile or cancellation between large partial sums.
  if (c.T > 1) {
    std::vector<float> y1(ldy + 16, kSentinel);
    std::vector<uint8_t> scratch1(impl.matmul_scratch_bytes(c.format, 1, c.K) + 64);
    for (int64_t t = 0; t < c.T; ++t) {
      impl.mm[c.format](W.bytes.data(), x.data() + t * ldx, ldx, y1.data(), ldy, 1, c.K,
                        c.oBegin, c.oEnd, scratch1.data());
      for (int64_t o = c.oBegin; o < c.oEnd; ++o) {
        double mag = 0;
        for (int64_t i = 0; i < c.K; ++i)
          mag += std::fabs(W.w[o * c.K + i] * x[t * ldx + i]);
        const double d = std::fabs(static_cast<double>(y[t * ldy + o]) - y1[o]);
        if (!(d <= 1e-6 * mag + 1e-30))
          return where + fmt("token %lld row %lld: %.9g with T=%lld, %.9g alone", (long long)t,
                             (long long)o, y[t * ldy + o], (long long)c.T, y1[o]);
      }
    }
  }

  // The format-number dispatcher gives the same bits.
  {
    std::vector<float> y2(c.T * ldy + 16, kSentinel);
    impl.matmul(c.format, W.bytes.data(), x.data(), ldx, y2.data(), ldy, c.T, c.K, c.oBegin,
                c.oEnd, sb ? scratch.data() : nullptr);
    if (std::memcmp(y2.data(), y.data(), y.size() * 4) != 0)
      return where + "matmul(format, ...) differs from matmul_<fmt>";
  }

  double errSq = 0, refSq = 0, predSq = 0;
  int64_t samples = 0;
  if (isFloatFormat(c.format)) {
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t o = c.oBegin; o < c.oEnd; ++o) {
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < c.K; ++i) {
          const double p = W.w[o * c.K + i] * x[t * ldx + i];
          ref += p;
          mag += std::fabs(p);
        }
        const double got = y[t * ldy + o], err = std::fabs(got - ref);
        if (!(err <= 1e-5 * mag + 1e-30))
          return where + fmt("y[%lld][%lld] = %.9g, float64 reference %.9g (|err| %.3g > 1e-5 * "
                             "sum|w x| = %.3g)",
                             (long long)t, (long long)o, got, ref, err, 1e-5 * mag);
      }
  } else {
    std::vector<uint8_t> xq;
    std::vector<double> xqd, dOf;
    e = checkQuantizedActivations(impl, c.format, x.data(), ldx, c.T, c.K, xq, xqd, dOf);
    if (!e.empty())
      return where + e;
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t o = c.oBegin; o < c.oEnd; ++o) {
        double refQ = 0, magQ = 0, ref = 0, mag = 0, qbound = 0, predVar = 0;
        for (int64_t i = 0; i < c.K; ++i) {
          const double w = W.w[o * c.K + i];
          refQ += w * xqd[t * c.K + i];
          magQ += std::fabs(w * xqd[t * c.K + i]);
          ref += w * x[t * ldx + i];
          mag += std::fabs(w * x[t * ldx + i]);
          qbound += std::fabs(w) * dOf[t * c.K + i] * 0.5;
          predVar += w * w * dOf[t * c.K + i] * dOf[t * c.K + i] / 12.0;
        }
        const double got = y[t * ldy + o];
        const double errQ = std::fabs(got - refQ), err = std::fabs(got - ref);
        if (!(errQ <= 1e-5 * magQ + 1e-30))
          return where + fmt("y[%lld][%lld] = %.9g, float64 with the quantized activations "
                             "%.9g (|err| %.3g > 1e-5 * sum|w xq| = %.3g)",
                             (long long)t, (long long)o, got, refQ, errQ, 1e-5 * magQ);
        const double bound = qbound * (1 + 1e-6) + 1e-5 * mag + 1e-30;
        if (!(err <= bound))
          return where + fmt("y[%lld][%lld] = %.9g, float64 reference %.9g (|err| %.3g > "
                             "rounding bound %.3g)",
                             (long long)t, (long long)o, got, ref, err, bound);
        errSq += (got - ref) * (got - ref);
        refSq += ref * ref;
        predSq += predVar;
        ++samples;
      }
    const double rmsRel = std::sqrt(errSq / std::max(refSq, 1e-300));
    if (rmsRelOut)
      *rmsRelOut = rmsRel;
    const double ratio = std::sqrt(errSq / std::max(predSq, 1e-300));
    const double maxRatio = samples >= 30 ? 2.0 : 3.0;
    if (samples > 0 && !(ratio <= maxRatio))
      return where + fmt("rms error %.3g is %.2fx the rms predicted from the activation "
                         "scales (allowed %.1fx); rms error / rms reference = %.4f",
                         std::sqrt(errSq / samples), ratio, maxRatio, rmsRel);

    // Pre-quantized entry: same activations, same bits.
    std::vector<float> y2(c.T * ldy + 16, kSentinel);
    impl.mmq8[c.format](W.bytes.data(), xq.data(), y2.data(), ldy, c.T, c.K, c.oBegin, c.oEnd);
    if (std::memcmp(y2.data(), y.data(), y.size() * 4) != 0)
      return where + "matmul_<fmt>_q8 on quantize_act's blocks differs from matmul_<fmt>";
  }
  if (out)
    *out = y;
  return "";
}

/// matmul_dequant (dequantize a block, multiply-add in f32) against float64.
inline std::string checkMatmulDequant(const UKImpl &impl, const MatmulCase &c) {
  const std::string where = std::string(impl.name) + " matmul_dequant " + caseName(c) + ": ";
  const Weights &W = makeWeights(c.format, c.N, c.K, c.seed);
  const int64_t ldx = c.K + 1, ldy = c.N + 2;
  const std::vector<float> x = makeActivations(c.T, c.K, ldx, c.seed * 5 + 3);
  std::vector<float> y(c.T * ldy + 16, kSentinel);
  impl.matmul_dequant(c.format, W.bytes.data(), x.data(), ldx, y.data(), ldy, c.T, c.K, c.oBegin,
                      c.oEnd);
  std::string e = checkUntouched(y, c.T, ldy, c.oBegin, c.oEnd);
  if (!e.empty())
    return where + e;
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t o = c.oBegin; o < c.oEnd; ++o) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < c.K; ++i) {
        const double p = W.w[o * c.K + i] * x[t * ldx + i];
        ref += p;
        mag += std::fabs(p);
      }
      const double got = y[t * ldy + o], err = std::fabs(got - ref);
      if (!(err <= 1e-5 * mag + 1e-30))
        return where + fmt("y[%lld][%lld] = %.9g, float64 %.9g (|err| %.3g > 1e-5 * sum|w x| = "
                           "%.3g)",
                           (long long)t, (long long)o, got, ref, err, 1e-5 * mag);
    }
  return "";
}

/// Two implementations on the same case (each checked on its own with
/// checkMatmul): the activation blocks must be byte-identical and the products
/// agree within 1e-5 * sum|w xq| (float formats: 1e-5 * sum|w x|).
inline std::string checkSameAs(const UKImpl &a, const UKImpl &b, const MatmulCase &c) {
  const std::string where =
      std::string(a.name) + " vs " + b.name + " " + caseName(c) + ": ";
  const Weights &W = makeWeights(c.format, c.N, c.K, c.seed);
  const int64_t ldx = c.K + 3, ldy = c.N + 5;
  const std::vector<float> x = makeActivations(c.T, c.K, ldx, c.seed * 7 + 1);
  std::vector<float> ya(c.T * ldy, kSentinel), yb(c.T * ldy, kSentinel);
  std::vector<uint8_t> scratch(a.matmul_scratch_bytes(c.format, c.T, c.K) + 1);
  a.mm[c.format](W.bytes.data(), x.data(), ldx, ya.data(), ldy, c.T, c.K, c.oBegin, c.oEnd,
                 scratch.data());
  b.mm[c.format](W.bytes.data(), x.data(), ldx, yb.data(), ldy, c.T, c.K, c.oBegin, c.oEnd,
                 scratch.data());
  std::string e;
  std::vector<double> xv(c.T * c.K);
  if (!isFloatFormat(c.format)) {
    const size_t n = a.matmul_scratch_bytes(c.format, c.T, c.K);
    std::vector<uint8_t> qa(n), qb(n);
    a.quantize_act(c.format, x.data(), ldx, c.T, c.K, qa.data());
    b.quantize_act(c.format, x.data(), ldx, c.T, c.K, qb.data());
    if (qa != qb)
      return where + "quantized activations differ";
    std::vector<uint8_t> tmp;
    std::vector<double> dOf;
    e = checkQuantizedActivations(a, c.format, x.data(), ldx, c.T, c.K, tmp, xv, dOf);
    if (!e.empty())
      return where + e;
  } else {
    for (int64_t t = 0; t < c.T; ++t)
      for (int64_t i = 0; i < c.K; ++i)
        xv[t * c.K + i] = x[t * ldx + i];
  }
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t o = c.oBegin; o < c.oEnd; ++o) {
      double mag = 0;
      for (int64_t i = 0; i < c.K; ++i)
        mag += std::fabs(W.w[o * c.K + i] * xv[t * c.K + i]);
      const double d = std::fabs(static_cast<double>(ya[t * ldy + o]) - yb[t * ldy + o]);
      if (!(d <= 1e-5 * mag + 1e-30))
        return where + fmt("y[%lld][%lld]: %.9g vs %.9g", (long long)t, (long long)o,
                           ya[t * ldy + o], yb[t * ldy + o]);
    }
  return "";
}

//===----------------------------------------------------------------------===//
// Rows
//===----------------------------------------------------------------------===//

/// dequantize_row and embedding give exactly milm::dequantizeRow's values.
inline std::string checkDequantRow(const UKImpl &impl, uint32_t f) {
  const std::string where = std::string(impl.name) + " dequantize_row " + formatName(f) + ": ";
  const int64_t K = 512, N = 7;
  const Weights &W = makeWeights(f, N, K, 11);
  std::vector<float> got(K + 8, kSentinel);
  for (int64_t o = 0; o < N; ++o) {
    impl.dequantize_row(f, W.bytes.data() + o * W.rowBytes, got.data(), K);
    for (int64_t i = 0; i < K; ++i)
      if (got[i] != static_cast<float>(W.w[o * K + i]))
        return where + fmt("row %lld value %lld: %.9g, want %.9g", (long long)o, (long long)i,
                           got[i], W.w[o * K + i]);
    for (int64_t i = K; i < K + 8; ++i)
      if (got[i] != kSentinel)
        return where + "wrote past n values";
  }
  const int32_t tokens[4] = {3, 0, 6, 3};
  const int64_t ldo = K + 4;
  std::vector<float> e(4 * ldo, kSentinel);
  impl.embedding(f, W.bytes.data(), K, tokens, 4, e.data(), ldo);
  for (int t = 0; t < 4; ++t)
    for (int64_t i = 0; i < ldo; ++i) {
      const float want = i < K ? static_cast<float>(W.w[tokens[t] * K + i]) : kSentinel;
      if (e[t * ldo + i] != want)
        return where + fmt("embedding token %d value %lld: %.9g, want %.9g", t, (long long)i,
                           e[t * ldo + i], want);
    }
  return "";
}

//===----------------------------------------------------------------------===//
// Elementwise, rope, attention, MoE
//===----------------------------------------------------------------------===//

/// outlier_columns_f16 against a double reference: k columns (below, at and
/// past a multiple of 8), T tokens with a row stride past K, rows [b, e) of N
/// added to what y held; rows outside untouched. |y - ref| <= 1e-5 * (|y0| +
/// sum |w x|).
inline std::string checkOutlierColumns(const UKImpl &impl) {
  const std::string where = std::string(impl.name) + " outlier_columns_f16: ";
  std::mt19937 rng(4242);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t k : {1, 5, 8, 13, 40}) {
    const int64_t K = 300, ldx = 310, T = 3, N = 11, b = 2, e = 10;
    std::vector<int32_t> cols;
    for (int64_t j = 0; j < k; ++j)
      cols.push_back(int32_t((j * 37 + 11) % K));
    std::vector<uint16_t> side(size_t(N * k));
    for (uint16_t &h : side)
      h = fp32ToFp16(nd(rng) * 0.1f);
    std::vector<float> x(size_t(T * ldx), NAN);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < K; ++i)
        x[size_t(t * ldx + i)] = nd(rng);
    std::vector<float> y(size_t(T * N));
    for (float &v : y)
      v = nd(rng);
    const std::vector<float> y0 = y;
    impl.outlier_columns_f16(side.data(), cols.data(), k, x.data(), ldx, y.data(), N, T, b, e);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t o = 0; o < N; ++o) {
        const float got = y[size_t(t * N + o)];
        if (o < b || o >= e) {
          if (std::memcmp(&got, &y0[size_t(t * N + o)], 4) != 0)
            return where + fmt("k %lld: row %lld outside [%lld, %lld) changed", (long long)k,
                               (long long)o, (long long)b, (long long)e);
          continue;
        }
        double ref = y0[size_t(t * N + o)], mag = std::fabs(ref);
        for (int64_t j = 0; j < k; ++j) {
          const double p = double(fp16ToFp32(side[size_t(o * k + j)])) *
                           double(x[size_t(t * ldx + cols[size_t(j)])]);
          ref += p;
          mag += std::fabs(p);
        }
        if (!(std::fabs(double(got) - ref) <= 1e-5 * mag + 1e-30))
          return where + fmt("k %lld token %lld row %lld: %.9g, want %.9g", (long long)k,
                             (long long)t, (long long)o, got, ref);
      }
  }
  return "";
}

inline std::string checkElementwise(const UKImpl &impl) {
  const std::string where = std::string(impl.name) + " elementwise: ";
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int64_t T = 3, n = 203, ld = 211;
  std::vector<float> x(T * ld), w(n), y(T * ld, kSentinel);
  for (auto &v : x) v = nd(rng);
  for (auto &v : w) v = 1.0f + 0.25f * nd(rng);
  impl.rms_norm(x.data(), ld, w.data(), y.data(), ld, T, n, 1e-5f);
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[t * ld + i]) * x[t * ld + i];
    const double r = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i) {
      const double ref = x[t * ld + i] * r * w[i];
      if (!(std::fabs(y[t * ld + i] - ref) <= 1e-5 * std::fabs(ref) + 1e-7))
        return where + fmt("rms_norm[%lld][%lld] = %.9g, want %.9g", (long long)t, (long long)i,
                           y[t * ld + i], ref);
    }
    for (int64_t i = n; i < ld; ++i)
      if (y[t * ld + i] != kSentinel)
        return where + "rms_norm wrote past n";
  }
  // In place.
  std::vector<float> xi = x;
  impl.rms_norm(xi.data(), ld, w.data(), xi.data(), ld, T, n, 1e-5f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i)
      if (xi[t * ld + i] != y[t * ld + i])
        return where + "rms_norm in place differs";

  std::vector<float> g(n), u(n), o(n);
  for (auto &v : g) v = nd(rng) * 4.0f;
  for (auto &v : u) v = nd(rng);
  impl.swiglu(g.data(), u.data(), o.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double ref = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    if (!(std::fabs(o[i] - ref) <= 2e-6 * std::fabs(ref) + 1e-30))
      return where + fmt("swiglu[%lld] = %.9g, want %.9g", (long long)i, o[i], ref);
  }
  impl.add(g.data(), u.data(), o.data(), n);
  for (int64_t i = 0; i < n; ++i)
    if (o[i] != g[i] + u[i])
      return where + "add";
  std::vector<float> s(n);
  for (auto &v : s) v = nd(rng) * 10.0f;
  std::vector<float> s0 = s;
  impl.softmax(s.data(), n);
  double mx = -1e300, sum = 0;
  for (float v : s0) mx = std::max(mx, static_cast<double>(v));
  for (float v : s0) sum += std::exp(v - mx);
  for (int64_t i = 0; i < n; ++i) {
    const double ref = std::exp(s0[i] - mx) / sum;
    if (!(std::fabs(s[i] - ref) <= 1e-5 * ref + 1e-9))
      return where + fmt("softmax[%lld] = %.9g, want %.9g", (long long)i, s[i], ref);
  }
  return "";
}

/// Rope against the rotation written directly: pair (a, b) of head h of token t
/// is multiplied, as a complex number a + ib, by mscale * e^(i theta).
inline std::string checkRope(const UKImpl &impl, int32_t pairing, int32_t scaling,
                             int64_t rotaryDim) {
  const std::string where =
      std::string(impl.name) + fmt(" rope pairing %d scaling %d rotary_dim %lld: ", pairing,
                                   scaling, (long long)rotaryDim);
  const int64_t T = 4, H = 3, D = 64, ld = H * D + 5;
  const int32_t pos[T] = {0, 1, 17, 3000};
  milm_uk_rope_params p{};
  p.pairing = pairing;
  p.rotary_dim = static_cast<int32_t>(rotaryDim);
  p.base = 10000.0f;
  p.scaling = scaling;
  p.factor = 4.0f;
  p.orig_ctx = 2048;
  p.ext_factor = 1.0f;
  p.attn_factor = 1.0f;
  p.beta_fast = 32.0f;
  p.beta_slow = 1.0f;
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(T * ld);
  for (auto &v : x) v = nd(rng);
  std::vector<float> y = x;
  impl.rope(y.data(), ld, T, H, D, pos, &p);
  const int64_t r = rotaryDim, half = r / 2;
  const double pi = 3.14159265358979323846;
  double base = 10000.0, mscale = 1.0;
  if (scaling == MILM_UK_ROPE_SCALING_NTK)
    base = 10000.0 * std::pow(4.0, static_cast<double>(r) / (r - 2));
  // YaRN's correction range: dimensions whose wavelength fits fewer than
  // beta_slow / more than beta_fast times in the original context.
  auto corr = [&](double beta) {
    return r * std::log(2048.0 / (2 * pi * beta)) / (2 * std::log(10000.0));
  };
  const double lo = std::max(0.0, std::floor(corr(32.0)));
  const double hi = std::min(static_cast<double>(r - 1), std::ceil(corr(1.0)));
  if (scaling == MILM_UK_ROPE_SCALING_YARN)
    mscale = 1.0 + 0.1 * std::log(4.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t at = t * ld + h * D + d;
        if (d >= r) {
          if (y[at] != x[at])
            return where + "a dimension past rotary_dim changed";
          continue;
        }
        // The pair this dimension belongs to, and its place in it.
        int64_t i, a, b;
        if (pairing == MILM_UK_ROPE_NEOX) {
          i = d % half;
          a = i;
          b = i + half;
        } else {
          i = d / 2;
          a = 2 * i;
          b = 2 * i + 1;
        }
        const double freq = std::pow(base, -2.0 * i / r);
        double theta = pos[t] * freq;
        if (scaling == MILM_UK_ROPE_SCALING_LINEAR)
          theta = pos[t] / 4.0 * freq;
        if (scaling == MILM_UK_ROPE_SCALING_YARN) {
          const double ramp = 1.0 - std::clamp((i - lo) / std::max(hi - lo, 0.001), 0.0, 1.0);
          theta = (pos[t] * freq / 4.0) * (1 - ramp) + pos[t] * freq * ramp;
        }
        const std::complex<double> z(x[t * ld + h * D + a], x[t * ld + h * D + b]);
        const std::complex<double> rz = z * std::polar(mscale, theta);
        const double want = d == a ? rz.real() : rz.imag();
        if (!(std::fabs(y[at] - want) <= 2e-6 * (std::abs(z) + 1e-3)))
          return where + fmt("token %lld head %lld dim %lld: %.9g, want %.9g", (long long)t,
                             (long long)h, (long long)d, y[at], want);
      }
  return "";
}

inline double roundF16(float v) { return fp16ToFp32(fp32ToFp16(v)); }

struct AttnShape {
  int64_t heads, kvHeads, headDim, capacity;
};

/// Attention against a float64 implementation; prefill-then-decode gives what
/// one prefill gives; the cache holds exactly the f16-rounded keys and values.
inline std::string checkAttention(const UKImpl &impl, const AttnShape &s, int64_t T,
                                  int64_t prefill) {
  const std::string where =
      std::string(impl.name) + fmt(" attention heads %lld/%lld head_dim %lld T %lld: ",
                                   (long long)s.heads, (long long)s.kvHeads,
                                   (long long)s.headDim, (long long)T);
  const int64_t H = s.heads, G = s.kvHeads, D = s.headDim, group = H / G;
  const int64_t ldq = H * D + 3, ldk = G * D + 1, ldo = H * D + 2;
  std::mt19937 rng(static_cast<uint32_t>(H * 131 + D + T));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(T * ldq), k(T * ldk), v(T * ldk);
  for (auto &x : q) x = nd(rng);
  for (auto &x : k) x = nd(rng) * 1.5f;
  for (auto &x : v) x = nd(rng);
  std::vector<int32_t> pos(T);
  for (int64_t t = 0; t < T; ++t) pos[t] = static_cast<int32_t>(t);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const size_t cacheElems = static_cast<size_t>(s.capacity * G * D);

  // Reference.
  std::vector<double> ref(T * H * D);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / group;
      std::vector<double> sc(t + 1);
      double mx = -1e300;
      for (int64_t j = 0; j <= t; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += static_cast<double>(q[t * ldq + h * D + d]) * roundF16(k[j * ldk + g * D + d]);
        sc[j] = dot * scale;
        mx = std::max(mx, sc[j]);
      }
      double sum = 0;
      for (auto &x : sc) sum += (x = std::exp(x - mx));
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0;
        for (int64_t j = 0; j <= t; ++j) acc += sc[j] * roundF16(v[j * ldk + g * D + d]);
        ref[(t * H + h) * D + d] = acc / sum;
      }
    }

  // One prefill of all T tokens, heads split in two group-aligned halves.
  std::vector<uint16_t> kc(cacheElems, 0xFFFF), vc(cacheElems, 0xFFFF);
  std::vector<float> out(T * ldo, kSentinel);
  const int64_t split = (G / 2) * group;
  impl.attention_f16kv(q.data(), ldq, k.data(), ldk, v.data(), ldk, kc.data(), vc.data(),
                       out.data(), ldo, pos.data(), T, H, G, D, scale, 0, split);
  impl.attention_f16kv(q.data(), ldq, k.data(), ldk, v.data(), ldk, kc.data(), vc.data(),
                       out.data(), ldo, pos.data(), T, H, G, D, scale, split, H);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t d = 0; d < D; ++d) {
        const size_t at = (t * G + g) * D + d;
        if (kc[at] != fp32ToFp16(k[t * ldk + g * D + d]) ||
            vc[at] != fp32ToFp16(v[t * ldk + g * D + d]))
          return where + fmt("cache entry pos %lld kv head %lld dim %lld is not the f16 "
                             "(round to nearest even) of the input",
                             (long long)t, (long long)g, (long long)d);
      }
  for (size_t i = T * G * D; i < cacheElems; ++i)
    if (kc[i] != 0xFFFF || vc[i] != 0xFFFF)
      return where + "wrote cache entries past the appended positions";
  double vmax = 0;
  for (float x : v) vmax = std::max(vmax, static_cast<double>(std::fabs(x)));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < ldo; ++i) {
      const float got = out[t * ldo + i];
      if (i >= H * D) {
        if (got != kSentinel)
          return where + "wrote past n_heads * head_dim in out";
        continue;
      }
      const double want = ref[t * H * D + i];
      if (!(std::fabs(got - want) <= 2e-5 * vmax))
        return where + fmt("out[%lld][%lld] = %.9g, float64 %.9g", (long long)t, (long long)i,
                           got, want);
    }

  // Prefill `prefill` tokens, then decode the rest one at a time with the
  // append done separately (kv_append_f16 + attention with k = v = NULL) for
  // odd tokens; every head range at once.
  std::vector<uint16_t> kc2(cacheElems, 0xFFFF), vc2(cacheElems, 0xFFFF);
  std::vector<float> out2(T * ldo, kSentinel);
  impl.attention_f16kv(q.data(), ldq, k.data(), ldk, v.data(), ldk, kc2.data(), vc2.data(),
                       out2.data(), ldo, pos.data(), prefill, H, G, D, scale, 0, H);
  for (int64_t t = prefill; t < T; ++t) {
    const float *kt = k.data() + t * ldk, *vt = v.data() + t * ldk;
    if (t % 2) {
      impl.kv_append_f16(kt, ldk, vt, ldk, kc2.data(), vc2.data(), &pos[t], 1, G, D, 0, G);
      kt = vt = nullptr;
    }
    impl.attention_f16kv(q.data() + t * ldq, ldq, kt, ldk, vt, ldk, kc2.data(), vc2.data(),
                         out2.data() + t * ldo, ldo, &pos[t], 1, H, G, D, scale, 0, H);
  }
  if (kc2 != kc || vc2 != vc)
    return where + "prefill + decode left a different cache than one prefill";
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H * D; ++i) {
      const float a = out[t * ldo + i], b = out2[t * ldo + i];
      if (!(std::fabs(a - b) <= 1e-6 * vmax))
        return where + fmt("decode after prefill: out[%lld][%lld] = %.9g, one prefill %.9g",
                           (long long)t, (long long)i, b, a);
    }
  return "";
}

inline std::string checkMoeRoute(const UKImpl &impl) {
  const std::string where = std::string(impl.name) + " moe_route: ";
  const int64_t T = 6, E = 8, ld = 9;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> l(T * ld);
  for (auto &x : l) x = nd(rng);
  l[1 * ld + 2] = l[1 * ld + 5] = 9.0f; // a tie at the top: lower index first
  l[2 * ld + 0] = l[2 * ld + 7] = l[2 * ld + 3] = -1.0f;
  for (int64_t e = 0; e < E; ++e) l[3 * ld + e] = 0.5f; // all equal
  for (int32_t mode : {MILM_UK_MOE_TOPK_SOFTMAX, MILM_UK_MOE_SOFTMAX_TOPK})
    for (int64_t k : {1, 2, 3}) {
      std::vector<int32_t> ids(T * k, -7);
      std::vector<float> w(T * k, kSentinel);
      impl.moe_route(l.data(), ld, T, E, k, mode, ids.data(), w.data());
      for (int64_t t = 0; t < T; ++t) {
        // Insertion sort by decreasing logit, stable: ties keep index order.
        std::vector<int> order;
        for (int e = 0; e < E; ++e) {
          size_t at = order.size();
          while (at > 0 && l[t * ld + order[at - 1]] < l[t * ld + e])
            --at;
          order.insert(order.begin() + at, e);
        }
        double mx = l[t * ld + order[0]], sumSel = 0, sumAll = 0;
        for (int64_t j = 0; j < k; ++j) sumSel += std::exp(l[t * ld + order[j]] - mx);
        for (int e = 0; e < E; ++e) sumAll += std::exp(l[t * ld + e] - mx);
        for (int64_t j = 0; j < k; ++j) {
          if (ids[t * k + j] != order[j])
            return where + fmt("mode %d k %lld token %lld pick %lld: expert %d, want %d", mode,
                               (long long)k, (long long)t, (long long)j, ids[t * k + j], order[j]);
          const double e = std::exp(l[t * ld + order[j]] - mx);
          const double want = mode == MILM_UK_MOE_TOPK_SOFTMAX ? e / sumSel : e / sumAll;
          if (!(std::fabs(w[t * k + j] - want) <= 1e-6))
            return where + fmt("mode %d k %lld token %lld pick %lld: weight %.9g, want %.9g", mode,
                               (long long)k, (long long)t, (long long)j, w[t * k + j], want);
        }
      }
    }
  return "";
}

/// The product cases every implementation runs: each format, T = 1, 3, 17 (and
/// 2, 4, 5, 7, 8, 64),
/// odd row ranges, two K (one of them not a multiple of 256 for the 32-value
/// formats and not a multiple of 8 for the float formats).
/// A packed layout (rows interleaved by 8, repacked by `packer`'s repack, as
/// the model compiler does with the generic one): impl's product with it
/// against its own product in the base format on the same quantized
/// activations. Both compute the same integer per block and weight row, so they
/// differ only in the order of the float additions: |y - y_base| <= 1e-6 *
/// sum|W x| (activations as quantized). Every token of a T-token product must
/// equal, bit for bit, that token computed alone (prefill == decode), and only
/// rows [oBegin, oEnd) are written.
inline std::string checkPacked(const UKImpl &impl, const UKImpl &packer, size_t layout,
                               int64_t T, int64_t K, int64_t N, int64_t oBegin, int64_t oEnd,
                               uint32_t seed) {
  const PackedLayout &L = kPackedLayouts[layout];
  const UKImpl::Packed &P = impl.packed[layout];
  const std::string name =
      fmt("%s T=%lld K=%lld rows [%lld,%lld) of %lld", L.name, (long long)T, (long long)K,
          (long long)oBegin, (long long)oEnd, (long long)N);
  const Weights &W = makeWeights(L.base, N, K, seed);
  std::vector<uint8_t> packed(W.rowBytes * N + 64, 0x5A);
  packer.packed[layout].repack(W.bytes.data(), packed.data(), N, K);
  for (size_t i = W.rowBytes * N; i < packed.size(); ++i)
    if (packed[i] != 0x5A)
      return name + ": repack wrote past N rows";
  const std::vector<float> x = makeActivations(T, K, K, seed + 7);
  std::vector<uint8_t> xq(impl.act_row_bytes(L.base, K) * T + 64);
  impl.quantize_act(L.base, x.data(), K, T, K, xq.data());
  std::vector<float> ref(T * N, kSentinel), y(T * N, kSentinel);
  impl.mmq8[L.base](W.bytes.data(), xq.data(), ref.data(), N, T, K, oBegin, oEnd);
  P.mmq8(packed.data(), xq.data(), y.data(), N, T, K, oBegin, oEnd);
  std::string bad = checkUntouched(y, T, N, oBegin, oEnd);
  if (!bad.empty())
    return name + ": " + bad;
  // sum|W x| with the activations as quantized (d * q).
  const bool kAct = isKFormat(L.base);
  const int64_t qk = kAct ? 256 : 32, nb = K / qk;
  auto act = [&](int64_t t, int64_t i) {
    if (kAct) {
      const auto &a = reinterpret_cast<const milm_uk_block_q8_k *>(xq.data())[t * nb + i / qk];
      return double(a.d) * a.qs[i % qk];
    }
    const auto &a = reinterpret_cast<const milm_uk_block_q8_32 *>(xq.data())[t * nb + i / qk];
    return double(a.d) * a.qs[i % qk];
  };
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = oBegin; o < oEnd; ++o) {
      double mag = 0;
      for (int64_t i = 0; i < K; ++i)
        mag += std::fabs(W.w[o * K + i] * act(t, i));
      const double diff = std::fabs(double(y[t * N + o]) - double(ref[t * N + o]));
      if (!(diff <= 1e-6 * mag + 1e-30))
        return name + fmt(": y[%lld][%lld] = %.9g, %s gives %.9g (|diff| %.3g > 1e-6 * %.4g)",
                          (long long)t, (long long)o, y[t * N + o], formatName(L.base),
                          ref[t * N + o], diff, mag);
    }
  for (int64_t t = 0; T > 1 && t < T; ++t) {
    std::vector<float> one(N, kSentinel);
    P.mmq8(packed.data(), xq.data() + t * impl.act_row_bytes(L.base, K), one.data(), N, 1, K,
           oBegin, oEnd);
    for (int64_t o = oBegin; o < oEnd; ++o)
      if (std::memcmp(&one[o], &y[t * N + o], sizeof(float)) != 0)
        return name + fmt(": token %lld row %lld alone gives %.9g, in the batch %.9g",
                          (long long)t, (long long)o, one[o], y[t * N + o]);
  }
  return "";
}

/// A packed layout's shapes: row ranges of whole groups, token tiles and tails,
/// a large K (multiples of 256 for the K formats).
inline std::string checkPackedCases(const UKImpl &impl, const UKImpl &packer, size_t layout) {
  struct C { int64_t T, K, N, b, e; };
  const uint32_t base = kPackedLayouts[layout].base;
  const bool k = isKFormat(base);
  const int64_t small = base == MILM_UK_Q4_G128 ? 128 : base == MILM_UK_Q4_G256 ? 256 : 64; // q4_g64 too
  const C cases[] = {{1, 256, 16, 0, 16}, {1, k ? 512 : smallK(base), 24, 8, 16},
                     {3, 512, 32, 8, 32}, {4, k ? 256 : small, 8, 0, 8}, {7, 256, 16, 0, 16},
                     {8, 1024, 24, 16, 24},
                     {64, 4096, 16, 0, 16}, {5, 256, 16, 8, 8}};
  uint32_t seed = 9001 + 1000 * uint32_t(layout);
  // The rows above are for groups of 8; a layout of 32 rows takes 4 times each.
  const int64_t g = kPackedLayouts[layout].code >= 0x200 ? 4 : 1;
  for (const C &c : cases) {
    std::string bad =
        checkPacked(impl, packer, layout, c.T, c.K, g * c.N, g * c.b, g * c.e, seed++);
    if (!bad.empty())
      return std::string(impl.name) + ": " + bad;
  }
  return "";
}

inline std::vector<MatmulCase> matmulCases(uint32_t f) {
  std::vector<MatmulCase> cs;
  const int64_t K2 = isFloatFormat(f) ? 101 : smallK(f);
  uint32_t seed = 1 + f * 100;
  for (int64_t T : {1, 3, 17}) {
    cs.push_back({f, T, 512, 41, 3, 38, seed++});
    cs.push_back({f, T, K2, 9, 1, 8, seed++});
  }
  cs.push_back({f, 2, 1024, 6, 0, 6, seed++});
  cs.push_back({f, 4, 512, 13, 5, 6, seed++}); // one row
  cs.push_back({f, 5, 512, 13, 7, 7, seed++}); // empty range
  // Token tiles of four and their tails, and (q4_0) chunks of tokens.
  for (int64_t T : {4, 7, 8}) {
    cs.push_back({f, T, 512, 11, 2, 9, seed++});
    cs.push_back({f, T, K2, 5, 0, 5, seed++});
  }
  const bool g = f == MILM_UK_Q4_G128 || f == MILM_UK_Q4_G256 || f == MILM_UK_Q4_G64;
  cs.push_back({f, 8, isKFormat(f) || g ? 1280 : 1312, 4, 0, 4, seed++});
  cs.push_back({f, 64, 4096, 5, 1, 5, seed++});
  return cs;
}

} // namespace milm::ukcheck

#endif
