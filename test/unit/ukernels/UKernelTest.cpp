//===- UKernelTest.cpp - The CPU microkernels on the host -----------------===//
//
// Runs UKernelChecks.h on the generic (portable C) kernels and on the x86-64
// AVX2 and AVX-512 kernels, and compares each SIMD build with generic. The SIMD
// tests skip, saying why, on a CPU without the instruction set (AVX2 needs
// AVX2+FMA+F16C; AVX-512 needs F, BW, VL, DQ and VNNI) or when the library was not
// built (non-x86-64 hosts). The error bounds are explained in UKernelChecks.h.
//
//===----------------------------------------------------------------------===//
#define MILM_UK_PREFIX milm_uk_generic_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_avx2_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX
#define MILM_UK_PREFIX milm_uk_avx512_
#include "codegen/ukernels/include/milm_ukernels.h"
#undef MILM_UK_PREFIX

#include "UKernelChecks.h"

#include <gtest/gtest.h>

using namespace milm::ukcheck;

namespace {

enum class Which { Generic, AVX2, AVX512 };

const UKImpl &implOf(Which w) {
  static const UKImpl generic = MILM_UKCHECK_IMPL(milm_uk_generic_, "generic");
#if MILM_UK_TEST_AVX2
  static const UKImpl avx2 = MILM_UKCHECK_IMPL(milm_uk_avx2_, "avx2");
#else
  static const UKImpl &avx2 = generic; // never run: the AVX2 tests skip
#endif
#if MILM_UK_TEST_AVX512
  static const UKImpl avx512 = MILM_UKCHECK_IMPL(milm_uk_avx512_, "avx512");
#else
  static const UKImpl &avx512 = generic; // never run: the AVX-512 tests skip
#endif
  return w == Which::Generic ? generic : (w == Which::AVX2 ? avx2 : avx512);
}

const char *whichName(Which w) {
  return w == Which::Generic ? "generic" : (w == Which::AVX2 ? "avx2" : "avx512");
}

/// Why `w` cannot run here, or nullptr when it can.
const char *cannotRun(Which w) {
  if (w == Which::Generic)
    return nullptr;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (w == Which::AVX2) {
#if MILM_UK_TEST_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
      return nullptr;
    return "this CPU lacks AVX2/FMA/F16C: the AVX2 kernels cannot run here";
#endif
  } else {
#if MILM_UK_TEST_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
      return nullptr;
    return "this CPU lacks AVX-512 F/BW/VL/DQ/VNNI: the AVX-512 kernels cannot run here";
#endif
  }
#endif
  return "the x86-64 SIMD kernels are only built on x86-64 hosts";
}

#define SKIP_UNLESS_RUNNABLE(which)                                                    \
  if (const char *why_ = cannotRun(which))                                             \
  GTEST_SKIP() << why_

struct Param {
  Which which;
  uint32_t format;
};

std::string paramName(const testing::TestParamInfo<Param> &info) {
  return std::string(whichName(info.param.which)) + "_" + formatName(info.param.format);
}

std::vector<Param> params(std::initializer_list<Which> ws) {
  std::vector<Param> ps;
  for (Which w : ws)
    for (uint32_t f : allFormats())
      ps.push_back({w, f});
  return ps;
}

class UKernelFormatTest : public testing::TestWithParam<Param> {};

TEST_P(UKernelFormatTest, MatmulAgainstFloat64) {
  SKIP_UNLESS_RUNNABLE(GetParam().which);
  const UKImpl &impl = implOf(GetParam().which);
  double worst = 0;
  for (const MatmulCase &c : matmulCases(GetParam().format)) {
    double rmsRel = 0;
    EXPECT_EQ(checkMatmul(impl, c, nullptr, &rmsRel), "");
    worst = std::max(worst, rmsRel);
  }
  if (!isFloatFormat(GetParam().format))
    RecordProperty("worst_rms_rel_error_vs_unquantized", std::to_string(worst));
}

TEST_P(UKernelFormatTest, DequantMatmulWithin1e5) {
  SKIP_UNLESS_RUNNABLE(GetParam().which);
  const UKImpl &impl = implOf(GetParam().which);
  for (const MatmulCase &c : matmulCases(GetParam().format))
    EXPECT_EQ(checkMatmulDequant(impl, c), "");
}

TEST_P(UKernelFormatTest, DequantizeRowAndEmbedding) {
  SKIP_UNLESS_RUNNABLE(GetParam().which);
  EXPECT_EQ(checkDequantRow(implOf(GetParam().which), GetParam().format), "");
}

INSTANTIATE_TEST_SUITE_P(All, UKernelFormatTest,
                         testing::ValuesIn(params({Which::Generic, Which::AVX2, Which::AVX512})),
                         paramName);

class UKernelVsGenericTest : public testing::TestWithParam<Param> {};

TEST_P(UKernelVsGenericTest, SameResults) {
  SKIP_UNLESS_RUNNABLE(GetParam().which);
  for (const MatmulCase &c : matmulCases(GetParam().format))
    EXPECT_EQ(checkSameAs(implOf(Which::Generic), implOf(GetParam().which), c), "");
}

INSTANTIATE_TEST_SUITE_P(All, UKernelVsGenericTest,
                         testing::ValuesIn(params({Which::AVX2, Which::AVX512})), paramName);

class UKernelOpsTest : public testing::TestWithParam<Which> {};

TEST_P(UKernelOpsTest, PackedQ4_0x8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 0), "");
}

TEST_P(UKernelOpsTest, PackedQ8_0x8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 1), "");
}

TEST_P(UKernelOpsTest, PackedQ4_Kx8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 2), "");
}

TEST_P(UKernelOpsTest, PackedQ6_Kx8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 3), "");
}

TEST_P(UKernelOpsTest, PackedQ4_G128x8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 4), "");
}

TEST_P(UKernelOpsTest, PackedQ4_G256x8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 5), "");
}

TEST_P(UKernelOpsTest, PackedQ4_G64x8) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkPackedCases(implOf(GetParam()), implOf(Which::Generic), 6), "");
}

TEST_P(UKernelOpsTest, Elementwise) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkElementwise(implOf(GetParam())), "");
}

TEST_P(UKernelOpsTest, Rope) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  const UKImpl &impl = implOf(GetParam());
  for (int32_t pairing : {MILM_UK_ROPE_NORM, MILM_UK_ROPE_NEOX})
    for (int32_t scaling : {MILM_UK_ROPE_SCALING_NONE, MILM_UK_ROPE_SCALING_LINEAR,
                            MILM_UK_ROPE_SCALING_NTK, MILM_UK_ROPE_SCALING_YARN})
      for (int64_t rd : {64, 32})
        EXPECT_EQ(checkRope(impl, pairing, scaling, rd), "");
}

TEST_P(UKernelOpsTest, Attention) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  const UKImpl &impl = implOf(GetParam());
  EXPECT_EQ(checkAttention(impl, {8, 2, 32, 16}, 8, 5), "");     // GQA 4:1
  EXPECT_EQ(checkAttention(impl, {6, 2, 64, 160}, 150, 130), ""); // group 3, > 2 chunks
  EXPECT_EQ(checkAttention(impl, {4, 4, 128, 8}, 5, 1), "");      // MHA, head_dim 128
  EXPECT_EQ(checkAttention(impl, {2, 1, 20, 8}, 6, 2), "");       // head_dim % 8 != 0
  EXPECT_EQ(checkAttention(impl, {8, 1, 48, 80}, 70, 66), "");    // group 8, 2 chunks
}

TEST_P(UKernelOpsTest, OutlierColumns) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkOutlierColumns(implOf(GetParam())), "");
}

TEST_P(UKernelOpsTest, MoeRoute) {
  SKIP_UNLESS_RUNNABLE(GetParam());
  EXPECT_EQ(checkMoeRoute(implOf(GetParam())), "");
}

INSTANTIATE_TEST_SUITE_P(All, UKernelOpsTest,
                         testing::Values(Which::Generic, Which::AVX2, Which::AVX512),
                         [](const testing::TestParamInfo<Which> &i) {
                           return std::string(whichName(i.param));
                         });

TEST(UKernelSizesTest, FormatTables) {
  const UKImpl &g = implOf(Which::Generic);
  EXPECT_EQ(g.block_elems(MILM_UK_Q4_K), 256);
  EXPECT_EQ(g.block_elems(MILM_UK_Q4_0), 32);
  EXPECT_EQ(g.block_elems(MILM_UK_F16), 1);
  EXPECT_EQ(g.block_elems(99), 0);
  EXPECT_EQ(g.weight_row_bytes(MILM_UK_Q6_K, 512), 420u);
  EXPECT_EQ(g.weight_row_bytes(MILM_UK_Q6_K, 500), 0u);
  EXPECT_EQ(g.weight_row_bytes(MILM_UK_BF16, 7), 14u);
  EXPECT_EQ(g.act_row_bytes(MILM_UK_Q8_0, 4096), 128u * 40u);
  EXPECT_EQ(g.act_row_bytes(MILM_UK_Q5_K, 4096), 16u * 292u);
  EXPECT_EQ(g.act_row_bytes(MILM_UK_F32, 4096), 0u);
  EXPECT_EQ(g.matmul_scratch_bytes(MILM_UK_Q4_0, 3, 64), 3u * 2u * 40u);
}

} // namespace

namespace {

// milm.hadamard's kernel: the fast transform equals the product with the
// normalised Sylvester matrix H[i][j] = (-1)^popcount(i & j) / sqrt(b), block
// by block, on every row; applied twice it gives the input back (H is
// orthogonal and symmetric). The ISA kernel sets use the generic one.
TEST(HadamardKernel, IsTheSylvesterMatrixBlockByBlock) {
  for (int64_t b : {2, 8, 64, 256}) {
    const int64_t n = 3 * b, T = 3;
    std::vector<float> x(static_cast<size_t>(T * n));
    uint32_t s = 12345;
    for (float &v : x) {
      s = s * 1664525u + 1013904223u;
      v = float(int32_t(s >> 8) % 2001 - 1000) / 997.0f;
    }
    std::vector<float> y = x;
    for (auto fn : {milm_uk_generic_hadamard, milm_uk_avx2_hadamard, milm_uk_avx512_hadamard}) {
      y = x;
      fn(y.data(), n, T, n, b);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t b0 = 0; b0 < n; b0 += b)
          for (int64_t i = 0; i < b; ++i) {
            double want = 0;
            for (int64_t j = 0; j < b; ++j)
              want += (__builtin_popcountll(uint64_t(i & j)) & 1 ? -1.0 : 1.0) *
                      x[size_t(t * n + b0 + j)];
            want /= std::sqrt(double(b));
            EXPECT_NEAR(y[size_t(t * n + b0 + i)], want, 1e-5 * (1 + std::fabs(want)))
                << "b " << b << " row " << t << " at " << b0 + i;
          }
      fn(y.data(), n, T, n, b);
      for (size_t i = 0; i < x.size(); ++i)
        EXPECT_NEAR(y[i], x[i], 1e-5) << "b " << b << " at " << i;
    }
  }
}

} // namespace
