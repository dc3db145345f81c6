//===- QuantTest.cpp - Block-format quantization tests --------------------===//
//
// fp16/bf16 conversions, per-format layouts and round-trip error bounds, and the
// strong check against llama.cpp: the llama-dense fixtures hold the same random
// weights as f32 and quantized by llama.cpp, so our dequantization must reproduce
// the f32 weights within each format's error, and our Q8_0/Q4_0 quantizers must
// reproduce llama.cpp's bytes exactly.
//
//===----------------------------------------------------------------------===//
#include "common/milm/Quantize.h"
#include "frontends/gguf/GGUF.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace milm;

namespace {

//===----------------------------------------------------------------------===//
// Fixture files, read with the project's GGUF reader.
//===----------------------------------------------------------------------===//
struct FixtureFile {
  std::unique_ptr<gguf::GGUFFile> file;
  std::map<std::string, const gguf::TensorInfo *> tensors;
  std::string error;

  const uint8_t *data(const gguf::TensorInfo &t) const { return file->tensorData(t).data(); }
};

FixtureFile readGGUF(const std::string &path) {
  FixtureFile g;
  auto f = gguf::GGUFFile::open(path);
  if (!f) {
    g.error = llvm::toString(f.takeError());
    return g;
  }
  g.file = std::move(*f);
  for (const gguf::TensorInfo &t : g.file->tensors())
    g.tensors[t.name] = &t;
  return g;
}

uint32_t typeOf(const gguf::TensorInfo &t) { return static_cast<uint32_t>(t.format); }

std::string fixture(const std::string &name) {
  return std::string(MILM_FIXTURES_DIR) + "/gguf/" + name;
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

float fromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

std::vector<float> randomNormal(size_t n, uint32_t seed, float stddev = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<float> v(n);
  for (auto &x : v)
    x = dist(rng);
  return v;
}

std::vector<uint8_t> quantize(StorageFormat f, const std::vector<float> &x) {
  std::vector<uint8_t> q(*rowBytes(f, x.size()));
  quantizeRow(f, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> dequantize(StorageFormat f, const void *q, size_t n) {
  std::vector<float> y(n);
  dequantizeRow(f, q, y.data(), static_cast<int64_t>(n));
  return y;
}

double rms(const std::vector<float> &x) {
  double s = 0;
  for (float v : x)
    s += static_cast<double>(v) * v;
  return std::sqrt(s / static_cast<double>(x.size()));
}

double rmsDiff(const std::vector<float> &a, const std::vector<float> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return std::sqrt(s / static_cast<double>(a.size()));
}

/// Reference round-to-nearest-even to a format with `mantBits` explicit mantissa
/// bits, exponent range [minExp, maxExp] (unbiased, of normal numbers), computed in
/// double by brute force: the two representable neighbours, then the nearer/even one.
double referenceRound(double x, int mantBits, int minExp, int maxExp) {
  if (std::isnan(x) || std::isinf(x))
    return x;
  double ax = std::fabs(x);
  // Spacing of representable values around ax.
  int e = ax == 0 ? minExp : std::max(minExp, static_cast<int>(std::floor(std::log2(ax))));
  // log2 may be off by one at binade edges; fix up.
  while (e > minExp && std::ldexp(1.0, e) > ax)
    --e;
  while (std::ldexp(1.0, e + 1) <= ax)
    ++e;
  double ulp = std::ldexp(1.0, e - mantBits);
  double lo = std::floor(ax / ulp) * ulp, hi = lo + ulp;
  double r;
  if (ax - lo < hi - ax)
    r = lo;
  else if (ax - lo > hi - ax)
    r = hi;
  else
    r = std::fmod(lo / ulp, 2.0) == 0 ? lo : hi;
  double maxFinite = std::ldexp(2.0 - std::ldexp(1.0, -mantBits), maxExp);
  // Round to infinity when at or past halfway to the next (virtual) binade value.
  if (r > maxFinite)
    r = INFINITY;
  return std::copysign(r, x);
}

} // namespace

//===----------------------------------------------------------------------===//
// fp16 / bf16
//===----------------------------------------------------------------------===//

TEST(Fp16, AllHalfValuesRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = fp16ToFp32(static_cast<uint16_t>(h));
    bool isNan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (isNan) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      uint16_t back = fp32ToFp16(f);
      EXPECT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;
      EXPECT_NE(back & 0x3ff, 0) << std::hex << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
      continue;
    }
    EXPECT_EQ(fp32ToFp16(f), h) << std::hex << h;
    // Check the decoded value against its definition.
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double expect = exp == 0 ? std::ldexp(man, -24)
                  : exp == 31 ? INFINITY
                              : std::ldexp(1024 + man, exp - 25);
    if (h & 0x8000)
      expect = -expect;
    EXPECT_EQ(static_cast<double>(f), expect) << std::hex << h;
  }
}

TEST(Fp16, EdgeCases) {
  EXPECT_EQ(fp32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(fp32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32ToFp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32ToFp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32ToFp16(65519.99f), 0x7bff);   // below the halfway point to 65536
  EXPECT_EQ(fp32ToFp16(65520.0f), 0x7c00);    // halfway: ties to "even" = infinity
  EXPECT_EQ(fp32ToFp16(1e10f), 0x7c00);
  EXPECT_EQ(fp32ToFp16(-1e10f), 0xfc00);
  EXPECT_EQ(fp32ToFp16(INFINITY), 0x7c00);
  EXPECT_EQ(fp32ToFp16(-INFINITY), 0xfc00);
  uint16_t n = fp32ToFp16(NAN);
  EXPECT_EQ(n & 0x7c00, 0x7c00);
  EXPECT_NE(n & 0x3ff, 0);
  // A signalling NaN whose payload lives only in the low bits must stay a NaN.
  n = fp32ToFp16(fromBits(0x7f800001u));
  EXPECT_EQ(n & 0x7c00, 0x7c00);
  EXPECT_NE(n & 0x3ff, 0);
  // Ties to even in the normal range: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(fp32ToFp16(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(fp32ToFp16(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(fp32ToFp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  // Subnormals: smallest is 2^-24.
  EXPECT_EQ(fp32ToFp16(0x1p-24f), 0x0001);
  EXPECT_EQ(fp32ToFp16(0x1p-25f), 0x0000);           // tie -> even (0)
  EXPECT_EQ(fp32ToFp16(0x1p-25f * 1.0001f), 0x0001); // just above the tie
  EXPECT_EQ(fp32ToFp16(3 * 0x1p-25f), 0x0002);       // tie 1.5 -> 2
  EXPECT_EQ(fp32ToFp16(5 * 0x1p-25f), 0x0002);       // tie 2.5 -> 2
  EXPECT_EQ(fp32ToFp16(-0x1p-24f), 0x8001);
  EXPECT_EQ(fp32ToFp16(1e-30f), 0x0000);
  EXPECT_EQ(fp32ToFp16(fromBits(1)), 0x0000); // f32 subnormal
  EXPECT_EQ(fp32ToFp16(1023 * 0x1p-24f), 0x03ff);     // largest subnormal
  EXPECT_EQ(fp32ToFp16(1023.5f * 0x1p-24f), 0x0400);  // tie rounds up into the normals
  EXPECT_EQ(fp32ToFp16(0x1p-14f), 0x0400);            // smallest normal
  EXPECT_EQ(fp16ToFp32(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16ToFp32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(fp16ToFp32(0x7c00)));
  EXPECT_TRUE(std::signbit(fp16ToFp32(0x8000)));
}

TEST(Fp16, RandomValuesRoundToNearestEven) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    // Cover every exponent that matters for binary16 and beyond.
    uint32_t b = rng();
    uint32_t exp = 96 + rng() % 50; // 2^-31 .. 2^18
    b = (b & 0x807fffffu) | (exp << 23);
    float f = fromBits(b);
    double expect = referenceRound(f, 10, -14, 15);
    double got = fp16ToFp32(fp32ToFp16(f));
    ASSERT_EQ(got, expect) << std::hexfloat << f;
#if defined(__FLT16_MAX__)
    _Float16 h = static_cast<_Float16>(f);
    uint16_t hb;
    std::memcpy(&hb, &h, 2);
    ASSERT_EQ(fp32ToFp16(f), hb) << std::hexfloat << f;
#endif
  }
}

TEST(Bf16, EdgeCasesAndRounding) {
  EXPECT_EQ(fp32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32ToBf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32ToBf16(INFINITY), 0x7f80);
  EXPECT_EQ(fp32ToBf16(-INFINITY), 0xff80);
  EXPECT_EQ(fp32ToBf16(FLT_MAX), 0x7f80); // rounds up past the largest bf16
  EXPECT_EQ(fp32ToBf16(fromBits(0x7f7f7fffu)), 0x7f7f);
  uint16_t n = fp32ToBf16(fromBits(0x7f800001u)); // NaN with payload only in low bits
  EXPECT_TRUE(std::isnan(bf16ToFp32(n)));
  EXPECT_TRUE(std::isnan(bf16ToFp32(fp32ToBf16(NAN))));
  EXPECT_EQ(fp32ToBf16(fromBits(0x3f808000u)), 0x3f80); // tie -> even
  EXPECT_EQ(fp32ToBf16(fromBits(0x3f818000u)), 0x3f82); // tie -> even (up)
  EXPECT_EQ(fp32ToBf16(fromBits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(fp32ToBf16(fromBits(0x00008000u)), 0x0000); // subnormal tie -> even
  EXPECT_EQ(fp32ToBf16(fromBits(0x00018000u)), 0x0002);
  EXPECT_EQ(fp32ToBf16(fromBits(0x00000001u)), 0x0000);
  EXPECT_EQ(bf16ToFp32(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFp32(0x0001), fromBits(0x00010000u));

  std::mt19937 rng(11);
  for (int i = 0; i < 200000; ++i) {
    float f = fromBits(rng());
    if (std::isnan(f))
      continue;
    double expect = referenceRound(f, 7, -126, 127);
    ASSERT_EQ(static_cast<double>(bf16ToFp32(fp32ToBf16(f))), expect) << std::hexfloat << f;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f))
      continue;
    ASSERT_EQ(fp32ToBf16(f), h);
  }
}

//===----------------------------------------------------------------------===//
// Layouts: hand-built blocks decode to the values the format defines
//===----------------------------------------------------------------------===//

TEST(Layout, Q4_0) {
  blocks::BlockQ4_0 b;
  b.d = fp32ToFp16(0.5f);
  for (int j = 0; j < 16; ++j)
    b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = dequantize(StorageFormat::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j));
  }
}

TEST(Layout, Q4_1) {
  blocks::BlockQ4_1 b;
  b.d = fp32ToFp16(0.25f);
  b.m = fp32ToFp16(-1.0f);
  for (int j = 0; j < 16; ++j)
    b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto y = dequantize(StorageFormat::Q4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * j - 1.0f);
    EXPECT_EQ(y[j + 16], 0.25f * (15 - j) - 1.0f);
  }
}

TEST(Layout, Q5_0AndQ5_1) {
  // Value i (0..31) gets the 5-bit level (7 * i + 3) % 32.
  uint8_t level[32];
  for (int i = 0; i < 32; ++i)
    level[i] = static_cast<uint8_t>((7 * i + 3) % 32);
  blocks::BlockQ5_0 b0{};
  blocks::BlockQ5_1 b1{};
  b0.d = b1.d = fp32ToFp16(2.0f);
  b1.m = fp32ToFp16(-3.0f);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    b0.qs[j] = b1.qs[j] = static_cast<uint8_t>((level[j] & 15) | ((level[j + 16] & 15) << 4));
    qh |= static_cast<uint32_t>(level[j] >> 4) << j;
    qh |= static_cast<uint32_t>(level[j + 16] >> 4) << (j + 16);
  }
  for (int k = 0; k < 4; ++k)
    b0.qh[k] = b1.qh[k] = static_cast<uint8_t>(qh >> (8 * k)); // little-endian
  auto y0 = dequantize(StorageFormat::Q5_0, &b0, 32);
  auto y1 = dequantize(StorageFormat::Q5_1, &b1, 32);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(y0[i], 2.0f * (level[i] - 16)) << i;
    EXPECT_EQ(y1[i], 2.0f * level[i] - 3.0f) << i;
  }
}

TEST(Layout, Q8_0) {
  blocks::BlockQ8_0 b;
  b.d = fp32ToFp16(0.125f);
  for (int j = 0; j < 32; ++j)
    b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  auto y = dequantize(StorageFormat::Q8_0, &b, 32);
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(y[j], 0.125f * (j * 8 - 128));
}

TEST(Layout, Q4_KAndQ5_K) {
  // Sub-block s has scale 3 + 7s (6 bits) and min 60 - 5s; value i has level
  // (5i + 1) % 16 (q4_k) or (11i + 2) % 32 (q5_k). Values 0-31 are sub-block 0, etc.
  uint8_t sc[8], mn[8];
  for (int s = 0; s < 8; ++s) {
    sc[s] = static_cast<uint8_t>(3 + 7 * s);
    mn[s] = static_cast<uint8_t>(60 - 5 * s);
  }
  // The 12-byte packing, written from its definition: bytes 0-3 hold scales 0-3 in
  // their low 6 bits and the top 2 bits of scales 4-7; bytes 4-7 likewise for mins;
  // bytes 8-11 hold the low 4 bits of scale 4+k (low nibble) and min 4+k (high).
  uint8_t packed[12] = {};
  for (int k = 0; k < 4; ++k) {
    packed[k] = static_cast<uint8_t>(sc[k] | ((sc[k + 4] >> 4) << 6));
    packed[k + 4] = static_cast<uint8_t>(mn[k] | ((mn[k + 4] >> 4) << 6));
    packed[k + 8] = static_cast<uint8_t>((sc[k + 4] & 15) | ((mn[k + 4] & 15) << 4));
  }
  blocks::BlockQ4_K b4{};
  blocks::BlockQ5_K b5{};
  b4.d = b5.d = fp32ToFp16(0.5f);
  b4.dmin = b5.dmin = fp32ToFp16(0.25f);
  std::memcpy(b4.scales, packed, 12);
  std::memcpy(b5.scales, packed, 12);
  auto lvl4 = [](int i) { return (5 * i + 1) % 16; };
  auto lvl5 = [](int i) { return (11 * i + 2) % 32; };
  // Value i: pair p = i / 64 uses qs[32p + (i % 32)], low nibble for the first 32
  // of the pair, high nibble for the second; q5_k's fifth bit is bit (i / 32) of
  // qh[i % 32].
  for (int i = 0; i < 256; ++i) {
    int byte = 32 * (i / 64) + i % 32;
    bool high = (i % 64) >= 32;
    b4.qs[byte] |= static_cast<uint8_t>(lvl4(i) << (high ? 4 : 0));
    b5.qs[byte] |= static_cast<uint8_t>((lvl5(i) & 15) << (high ? 4 : 0));
    b5.qh[i % 32] |= static_cast<uint8_t>((lvl5(i) >> 4) << (i / 32));
  }
  auto y4 = dequantize(StorageFormat::Q4_K, &b4, 256);
  auto y5 = dequantize(StorageFormat::Q5_K, &b5, 256);
  for (int i = 0; i < 256; ++i) {
    int s = i / 32;
    EXPECT_FLOAT_EQ(y4[i], 0.5f * sc[s] * lvl4(i) - 0.25f * mn[s]) << i;
    EXPECT_FLOAT_EQ(y5[i], 0.5f * sc[s] * lvl5(i) - 0.25f * mn[s]) << i;
  }
  // The unpacking helper agrees with the definition.
  for (int s = 0; s < 8; ++s) {
    uint8_t a, m;
    blocks::unpackScaleMinK4(s, packed, a, m);
    EXPECT_EQ(a, sc[s]);
    EXPECT_EQ(m, mn[s]);
  }
}

TEST(Layout, Q6_K) {
  // Value i has level (13i + 5) % 64 (stored minus 32) and sub-block scale
  // (i / 16) * 9 - 70. Value i lives in half h = i / 128; within it, r = i % 128,
  // quarter k = r / 32, l = r % 32: low 4 bits in ql[64h + l + 32 (k & 1)], nibble
  // k >> 1; high 2 bits in qh[32h + l] at bit 2k.
  blocks::BlockQ6_K b{};
  b.d = fp32ToFp16(0.03125f);
  for (int s = 0; s < 16; ++s)
    b.scales[s] = static_cast<int8_t>(s * 9 - 70);
  auto lvl = [](int i) { return (13 * i + 5) % 64; };
  for (int i = 0; i < 256; ++i) {
    int h = i / 128, r = i % 128, k = r / 32, l = r % 32;
    b.ql[64 * h + l + 32 * (k & 1)] |= static_cast<uint8_t>((lvl(i) & 15) << (4 * (k >> 1)));
    b.qh[32 * h + l] |= static_cast<uint8_t>((lvl(i) >> 4) << (2 * k));
  }
  auto y = dequantize(StorageFormat::Q6_K, &b, 256);
  for (int i = 0; i < 256; ++i)
    EXPECT_FLOAT_EQ(y[i], 0.03125f * ((i / 16) * 9 - 70) * (lvl(i) - 32)) << i;
}

//===----------------------------------------------------------------------===//
// Round trips on random data
//===----------------------------------------------------------------------===//

namespace {
struct RoundTripCase {
  StorageFormat format;
  double maxRelRms; ///< bound on rms(error) / rms(x) for unit normal data
};

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

/// Per-element bound for the 32-value formats, from the block's own statistics.
double elementBound(StorageFormat f, const float *x, int n) {
  float amax = 0, lo = x[0], hi = x[0];
  for (int i = 0; i < n; ++i) {
    amax = std::max(amax, std::fabs(x[i]));
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const double fp16Rel = 1.0 / 1024; // relative error of an f16 scale, generously
  switch (f) {
  case StorageFormat::Q8_0: return amax * (0.5 / 127 + fp16Rel) + 1e-30;
  case StorageFormat::Q4_0: return amax * (1.0 / 8 + fp16Rel) + 1e-30;   // clamped side: one step
  case StorageFormat::Q5_0: return amax * (1.0 / 16 + fp16Rel) + 1e-30;
  case StorageFormat::Q4_1: return (hi - lo) * (0.5 / 15 + fp16Rel) + std::fabs(lo) * fp16Rel + 1e-30;
  case StorageFormat::Q5_1: return (hi - lo) * (0.5 / 31 + fp16Rel) + std::fabs(lo) * fp16Rel + 1e-30;
  default: return INFINITY;
  }
}
} // namespace

TEST_P(RoundTrip, NormalData) {
  const StorageFormat f = GetParam().format;
  const size_t n = 256 * 64;
  for (uint32_t seed : {1u, 2u, 3u}) {
    // Mix scales so that blocks span several orders of magnitude.
    auto x = randomNormal(n, seed);
    for (size_t i = 0; i < n; ++i)
      x[i] *= std::ldexp(1.0f, static_cast<int>((i / 256) % 7) - 3);
    auto q = quantize(f, x);
    auto y = dequantize(f, q.data(), n);
    double rel = rmsDiff(x, y) / rms(x);
    EXPECT_LT(rel, GetParam().maxRelRms) << info(f).name << " seed " << seed;
    // Per-block relative rms, so that small blocks are held to the bound too.
    double worstBlock = 0;
    for (size_t b = 0; b < n; b += 256) {
      std::vector<float> xb(x.begin() + b, x.begin() + b + 256), yb(y.begin() + b, y.begin() + b + 256);
      worstBlock = std::max(worstBlock, rmsDiff(xb, yb) / rms(xb));
    }
    EXPECT_LT(worstBlock, 2 * GetParam().maxRelRms) << info(f).name;
    if (info(f).blockElems == 32) {
      for (size_t b = 0; b < n; b += 32) {
        double bound = elementBound(f, &x[b], 32);
        for (size_t i = b; i < b + 32; ++i)
          ASSERT_LE(std::fabs(x[i] - y[i]), bound) << info(f).name << " element " << i;
      }
    }
  }
}

TEST_P(RoundTrip, OffsetAndUniformData) {
  const StorageFormat f = GetParam().format;
  const size_t n = 256 * 16;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = (i < n / 2) ? u(rng) : 3.0f + 0.5f * u(rng); // second half: all positive
  auto y = dequantize(f, quantize(f, x).data(), n);
  double rel = rmsDiff(x, y) / rms(x);
  // Symmetric formats lose resolution on offset data; allow twice the normal bound.
  EXPECT_LT(rel, 2 * GetParam().maxRelRms) << info(f).name;
  for (float v : y)
    ASSERT_TRUE(std::isfinite(v));
}

TEST_P(RoundTrip, ZeroAndConstantBlocks) {
  const StorageFormat f = GetParam().format;
  const size_t n = 512;
  std::vector<float> zeros(n, 0.0f);
  auto y = dequantize(f, quantize(f, zeros).data(), n);
  for (float v : y)
    ASSERT_EQ(v, 0.0f) << info(f).name;
  for (float c : {0.75f, -2.5f, 3e-3f}) {
    std::vector<float> x(n, c);
    y = dequantize(f, quantize(f, x).data(), n);
    for (float v : y)
      ASSERT_NEAR(v, c, std::fabs(c) * 0.02) << info(f).name << " constant " << c;
  }
  // Sparse: one large value per block among zeros.
  std::vector<float> x(n, 0.0f);
  for (size_t i = 0; i < n; i += 32)
    x[i + (i / 32) % 32] = (i % 64 ? -1.0f : 1.0f) * static_cast<float>(1 + i / 32);
  y = dequantize(f, quantize(f, x).data(), n);
  EXPECT_LT(rmsDiff(x, y) / rms(x), GetParam().maxRelRms) << info(f).name;
}

TEST_P(RoundTrip, RequantizingIsStable) {
  // Quantizing already-quantized values must not drift far: dequant(quant(y)) ~ y.
  const StorageFormat f = GetParam().format;
  const size_t n = 256 * 8;
  auto x = randomNormal(n, 9);
  auto y = dequantize(f, quantize(f, x).data(), n);
  auto z = dequantize(f, quantize(f, y).data(), n);
  EXPECT_LT(rmsDiff(y, z) / rms(y), GetParam().maxRelRms) << info(f).name;
}

// Bounds: the expected relative rms error of each format on normal data is about
// step / sqrt(12) / rms; the limits leave ~25% headroom over what is measured.
INSTANTIATE_TEST_SUITE_P(
    Formats, RoundTrip,
    ::testing::Values(RoundTripCase{StorageFormat::F32, 1e-9},
                      RoundTripCase{StorageFormat::F16, 3e-4},   // measured 2.1e-4
                      RoundTripCase{StorageFormat::BF16, 2.2e-3}, // 1.7e-3
                      RoundTripCase{StorageFormat::Q8_0, 0.007},  // 0.0055
                      RoundTripCase{StorageFormat::Q4_0, 0.11},   // 0.087
                      RoundTripCase{StorageFormat::Q4_1, 0.10},   // 0.080
                      RoundTripCase{StorageFormat::Q5_0, 0.056},  // 0.044
                      RoundTripCase{StorageFormat::Q5_1, 0.050},  // 0.039
                      RoundTripCase{StorageFormat::Q4_K, 0.092},  // 0.073
                      RoundTripCase{StorageFormat::Q5_K, 0.047},  // 0.037
                      RoundTripCase{StorageFormat::Q6_K, 0.023},  // 0.0185
                      RoundTripCase{StorageFormat::Q4_G128, 0.135}, // 0.107
                      RoundTripCase{StorageFormat::Q4_G256, 0.145}, // 0.115
                      RoundTripCase{StorageFormat::Q4_G64, 0.125}),
    [](const ::testing::TestParamInfo<RoundTripCase> &i) {
      return std::string(milm::info(i.param.format).name);
    });

//===----------------------------------------------------------------------===//
// milm's own 4-bit formats: exact storage of values already on a block's grid
//===----------------------------------------------------------------------===//

TEST(Q4Groups, EncodeExactStoresTheGridUnchanged) {
  std::mt19937 rng(77);
  for (StorageFormat f : {StorageFormat::Q4_G128, StorageFormat::Q4_G256, StorageFormat::Q4_G64,
                          StorageFormat::Q4_0}) {
    const int64_t B = info(f).blockElems, n = B * 6;
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t b = 0; b < n / B; ++b) {
      // A binary16 scale per block, codes in [-8, 7]; block 3 all zero,
      // block 4 without its extreme code (the scale must still be found).
      // (Negative on odd blocks: q4_0's d = extreme / -8 has either sign.)
      const float d = (b % 2 ? -1.0f : 1.0f) *
                      fp16ToFp32(fp32ToFp16(std::ldexp(1.0f + float(rng() % 1000) / 1000, -int(rng() % 12))));
      for (int64_t j = 0; j < B; ++j) {
        int q = int(rng() % 16) - 8;
        if (b == 4)
          q = std::max(-5, std::min(5, q));
        x[size_t(b * B + j)] = b == 3 ? 0.0f : float(q) * d;
      }
    }
    std::vector<uint8_t> bytes(*rowBytes(f, uint64_t(n)));
    ASSERT_TRUE(encodeQ4GroupsExact(f, x.data(), bytes.data(), n)) << info(f).name;
    auto y = dequantize(f, bytes.data(), size_t(n));
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(x[size_t(i)], y[size_t(i)]) << info(f).name << " value " << i;
    // One value off the grid: refused.
    x[size_t(B + 5)] = std::nextafter(x[size_t(B + 5)], 1e9f);
    EXPECT_FALSE(encodeQ4GroupsExact(f, x.data(), bytes.data(), n)) << info(f).name;
  }
  // Other formats, and n not a multiple of the block: refused.
  std::vector<float> z(256, 0.0f);
  std::vector<uint8_t> out(1024);
  EXPECT_FALSE(encodeQ4GroupsExact(StorageFormat::Q8_0, z.data(), out.data(), 256));
  EXPECT_FALSE(encodeQ4GroupsExact(StorageFormat::Q4_G256, z.data(), out.data(), 128));
}

TEST(Q4Groups, AsymmetricGroupsStoreExactlyInQ4_1) {
  // Groups of G values q * d + m (binary16 d >= 0 and m, codes 0..15), as
  // the -asym schemes round them: every 32-block of a group carries its d and
  // m, and the bytes decode to the very values.
  std::mt19937 rng(78);
  for (int64_t G : {32, 64, 128, 0}) {
    const int64_t n = 512, span = G ? G : n;
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t g = 0; g < n / span; ++g) {
      const float d = fp16ToFp32(fp32ToFp16(std::ldexp(1.0f + float(rng() % 1000) / 1000, -int(rng() % 10))));
      const float m = fp16ToFp32(fp32ToFp16(-float(rng() % 1000) / 997.0f));
      for (int64_t j = 0; j < span; ++j) {
        int q = int(rng() % 16);
        if (g == 1)
          q = 3 + q % 9; // the range's ends unused: d and m still found
        x[size_t(g * span + j)] = g == 2 ? m : static_cast<float>(q) * d + m;
      }
    }
    std::vector<uint8_t> bytes(*rowBytes(StorageFormat::Q4_1, uint64_t(n)));
    ASSERT_TRUE(encodeQ4_1Exact(x.data(), bytes.data(), n, G)) << "group " << G;
    auto y = dequantize(StorageFormat::Q4_1, bytes.data(), size_t(n));
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(x[size_t(i)], y[size_t(i)]) << "group " << G << " value " << i;
    // Every block of a group has the group's (d, m).
    const auto *b = reinterpret_cast<const blocks::BlockQ4_1 *>(bytes.data());
    for (int64_t i = 0; i < n / 32; ++i) {
      const int64_t first = (i * 32 / span) * span / 32;
      EXPECT_EQ(b[i].d, b[first].d) << "group " << G << " block " << i;
      EXPECT_EQ(b[i].m, b[first].m) << "group " << G << " block " << i;
    }
    // One value off the grid: refused.
    x[size_t(5)] = std::nextafter(x[size_t(5)], 1e9f);
    EXPECT_FALSE(encodeQ4_1Exact(x.data(), bytes.data(), n, G)) << "group " << G;
  }
  // A group that does not divide the row, or is not a multiple of 32: refused.
  std::vector<float> z(256, 0.0f);
  std::vector<uint8_t> out(1024);
  EXPECT_FALSE(encodeQ4_1Exact(z.data(), out.data(), 256, 48));
  EXPECT_FALSE(encodeQ4_1Exact(z.data(), out.data(), 192, 128));
  EXPECT_TRUE(encodeQ4_1Exact(z.data(), out.data(), 256, 128));
}

TEST(Q4Groups, LayoutIsQ4_0PerSubBlock) {
  // Value 32s + j (j < 16) in the low nibble of qs[16s + j], 32s + 16 + j in
  // the high one; x = d * (q - 8).
  uint8_t block[66] = {};
  const uint16_t d = fp32ToFp16(0.5f);
  std::memcpy(block, &d, 2);
  for (int i = 0; i < 64; ++i)
    block[2 + i] = uint8_t((i % 16) | ((15 - i % 16) << 4));
  auto y = dequantize(StorageFormat::Q4_G128, block, 128);
  for (int s = 0; s < 4; ++s)
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[size_t(32 * s + j)], 0.5f * float(j - 8));
      EXPECT_EQ(y[size_t(32 * s + 16 + j)], 0.5f * float(7 - j));
    }
}

//===----------------------------------------------------------------------===//
// Reference rounding of the 32-value formats, block by block
//===----------------------------------------------------------------------===//

TEST(ReferenceRounding, Q4_0TiesAndSigns) {
  // The value of largest magnitude sets d = max / -8 and decodes exactly (level 0);
  // on a tie of magnitudes the first one wins.
  float x[32];
  for (int i = 0; i < 32; ++i)
    x[i] = 0.1f * (i - 16);
  x[3] = 4.0f;
  x[20] = -4.0f;
  blocks::BlockQ4_0 b;
  quantizeRow(StorageFormat::Q4_0, x, &b, 32);
  EXPECT_EQ(fp16ToFp32(b.d), -0.5f);
  EXPECT_EQ(b.qs[3] & 0xF, 0);       // 4.0 -> level 0 -> -8 * -0.5 = 4
  EXPECT_EQ(b.qs[4] >> 4, 15);       // -4.0 -> would be 16, clamped to 15
  auto y = dequantize(StorageFormat::Q4_0, &b, 32);
  EXPECT_EQ(y[3], 4.0f);
  EXPECT_EQ(y[20], -3.5f);
}

TEST(ReferenceRounding, Q8_0RoundsHalfAwayFromZero) {
  float x[32] = {};
  x[0] = 127.0f; // d = 1 exactly
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  x[4] = -0.5f;
  x[5] = 0.49999997f;
  blocks::BlockQ8_0 b;
  quantizeRow(StorageFormat::Q8_0, x, &b, 32);
  EXPECT_EQ(fp16ToFp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 4);
  EXPECT_EQ(b.qs[4], -1);
  EXPECT_EQ(b.qs[5], 0);
}

//===----------------------------------------------------------------------===//
// Against llama.cpp: the llama-dense fixtures
//===----------------------------------------------------------------------===//

namespace {
class Fixtures : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    f32_ = new FixtureFile(readGGUF(fixture("llama-dense-f32.gguf")));
  }
  static void TearDownTestSuite() {
    delete f32_;
    f32_ = nullptr;
  }
  static FixtureFile *f32_;

  /// The f32 weights of `name`.
  std::vector<float> source(const std::string &name) {
    const gguf::TensorInfo &t = *f32_->tensors.at(name);
    EXPECT_EQ(typeOf(t), 0u) << name;
    size_t n = t.numElements();
    std::vector<float> v(n);
    std::memcpy(v.data(), f32_->data(t), n * 4);
    return v;
  }

  /// Checks every quantized tensor of `variant` against the f32 source; returns the
  /// relative rms error per storage format seen.
  std::map<uint32_t, double> checkVariant(const std::string &variant,
                                          std::map<uint32_t, double> bounds) {
    FixtureFile q = readGGUF(fixture("llama-dense-" + variant + ".gguf"));
    EXPECT_TRUE(q.error.empty()) << q.error;
    EXPECT_EQ(q.tensors.size(), f32_->tensors.size());
    std::map<uint32_t, std::pair<double, double>> sums; // format -> (err^2, x^2)
    for (const auto &kv : q.tensors) {
      const gguf::TensorInfo &t = *kv.second;
      auto x = source(t.name);
      EXPECT_EQ(t.numElements(), x.size()) << t.name;
      auto y = dequantize(t.format, q.data(t), x.size());
      double e2 = 0, x2 = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        e2 += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
        x2 += static_cast<double>(x[i]) * x[i];
      }
      double rel = std::sqrt(e2 / x2);
      auto it = bounds.find(typeOf(t));
      if (it == bounds.end()) {
        ADD_FAILURE() << variant << ": unexpected type " << typeOf(t) << " for " << t.name;
        continue;
      }
      EXPECT_LT(rel, it->second) << variant << " " << t.name;
      sums[typeOf(t)].first += e2;
      sums[typeOf(t)].second += x2;
    }
    std::map<uint32_t, double> out;
    for (auto &s : sums)
      out[s.first] = std::sqrt(s.second.first / s.second.second);
    return out;
  }
};
FixtureFile *Fixtures::f32_ = nullptr;

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14;
} // namespace

TEST_F(Fixtures, SourceIsReadable) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  EXPECT_TRUE(f32_->tensors.count("token_embd.weight"));
  EXPECT_TRUE(f32_->tensors.count("blk.1.ffn_down.weight"));
}

TEST_F(Fixtures, DequantizeQ8_0) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  auto rel = checkVariant("q8_0", {{kF32, 1e-9}, {kQ8_0, 0.007}});
  EXPECT_TRUE(rel.count(kQ8_0));
}

TEST_F(Fixtures, DequantizeQ4_0) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  // llama.cpp stores output.weight as Q6_K in a Q4_0 model.
  auto rel = checkVariant("q4_0", {{kF32, 1e-9}, {kQ4_0, 0.11}, {kQ6_K, 0.023}});
  EXPECT_TRUE(rel.count(kQ4_0));
}

TEST_F(Fixtures, DequantizeQ6_K) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  auto rel = checkVariant("q6_k", {{kF32, 1e-9}, {kQ6_K, 0.023}});
  EXPECT_TRUE(rel.count(kQ6_K));
}

TEST_F(Fixtures, DequantizeQ4_K_M) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  auto rel = checkVariant("q4_k_m", {{kF32, 1e-9}, {kQ4_K, 0.092}, {kQ6_K, 0.023}});
  EXPECT_TRUE(rel.count(kQ4_K));
  EXPECT_TRUE(rel.count(kQ6_K));
}

/// Requantizes the f32 source of every tensor the fixture stores as `type` and
/// expects the very same bytes.
static void expectSameBytes(FixtureFile &src, const std::string &variant, uint32_t type) {
  FixtureFile q = readGGUF(fixture("llama-dense-" + variant + ".gguf"));
  ASSERT_TRUE(q.error.empty()) << q.error;
  int compared = 0;
  for (const auto &kv : q.tensors) {
    const gguf::TensorInfo &t = *kv.second;
    if (typeOf(t) != type)
      continue;
    const gguf::TensorInfo &s = *src.tensors.at(t.name);
    size_t n = s.numElements();
    StorageFormat f = lookupStorageFormat(type)->format;
    std::vector<float> x(n);
    std::memcpy(x.data(), src.data(s), n * 4);
    auto mine = quantize(f, x);
    const uint8_t *theirs = q.data(t);
    size_t firstDiff = mine.size(), diffs = 0;
    for (size_t i = 0; i < mine.size(); ++i)
      if (mine[i] != theirs[i]) {
        firstDiff = std::min(firstDiff, i);
        ++diffs;
      }
    EXPECT_EQ(diffs, 0u) << variant << " " << t.name << ": first differing byte " << firstDiff
                         << " (block " << firstDiff / info(f).blockBytes << ")";
    ++compared;
  }
  EXPECT_GE(compared, 10) << variant; // 2 layers x 7 matrices + embeddings
}

TEST_F(Fixtures, Q8_0BytesMatchLlamaCpp) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  expectSameBytes(*f32_, "q8_0", kQ8_0);
}

TEST_F(Fixtures, Q4_0BytesMatchLlamaCpp) {
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  expectSameBytes(*f32_, "q4_0", kQ4_0);
}

TEST_F(Fixtures, KQuantErrorComparableToLlamaCpp) {
  // Our K quantizers are not byte-identical (llama.cpp searches differently), but on
  // the same weights their error must be within 10% of llama.cpp's.
  ASSERT_TRUE(f32_->error.empty()) << f32_->error;
  for (auto [variant, type] : {std::pair<std::string, uint32_t>{"q4_k_m", kQ4_K},
                               std::pair<std::string, uint32_t>{"q6_k", kQ6_K}}) {
    FixtureFile q = readGGUF(fixture("llama-dense-" + variant + ".gguf"));
    ASSERT_TRUE(q.error.empty()) << q.error;
    StorageFormat f = lookupStorageFormat(type)->format;
    double theirs2 = 0, ours2 = 0, x2 = 0;
    for (const auto &kv : q.tensors) {
      const gguf::TensorInfo &t = *kv.second;
      if (typeOf(t) != type)
        continue;
      auto x = source(t.name);
      auto yTheirs = dequantize(f, q.data(t), x.size());
      auto yOurs = dequantize(f, quantize(f, x).data(), x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        theirs2 += (static_cast<double>(x[i]) - yTheirs[i]) * (static_cast<double>(x[i]) - yTheirs[i]);
        ours2 += (static_cast<double>(x[i]) - yOurs[i]) * (static_cast<double>(x[i]) - yOurs[i]);
        x2 += static_cast<double>(x[i]) * x[i];
      }
    }
    ASSERT_GT(x2, 0) << variant;
    double relTheirs = std::sqrt(theirs2 / x2), relOurs = std::sqrt(ours2 / x2);
    std::printf("[ info ] %s: relative rms error llama.cpp %.5f, milm %.5f\n",
                info(f).name.data(), relTheirs, relOurs);
    EXPECT_LT(relOurs, 1.10 * relTheirs) << variant;
  }
}
